/**
 * A small tar writer and reader for tests: ustar headers, PAX extended
 * headers and GNU long names written byte by byte, so a test can build any
 * archive, including hostile ones (escaping names, links out of the root,
 * broken checksums, truncation) that no real tar tool would make.
 */

export type EntryType = "file" | "dir" | "symlink" | "link" | "char" | "block" | "fifo";

const TYPEFLAG: Record<EntryType, string> = {
  file: "0",
  link: "1",
  symlink: "2",
  char: "3",
  block: "4",
  dir: "5",
  fifo: "6",
};

export interface TarEntry {
  name: string;
  type?: EntryType;
  /** A raw typeflag, overriding `type` (e.g. "S", "x"). */
  typeflag?: string;
  data?: Buffer | string;
  /** Symlink or hardlink target. */
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch. */
  mtime?: number;
  devmajor?: number;
  devminor?: number;
  /** PAX records written in an 'x' header before the entry (values as given). */
  pax?: Record<string, string | Buffer>;
  /** xattrs, written as PAX SCHILY.xattr.* records. */
  xattrs?: Record<string, string | Buffer>;
  /** Write long names and link names as GNU 'L'/'K' entries (default: PAX). */
  gnu?: boolean;
}

const BLOCK = 512;

function octal(buf: Buffer, off: number, len: number, value: number): void {
  const s = value.toString(8).padStart(len - 1, "0");
  if (s.length > len - 1) {
    // GNU base-256
    let v = BigInt(value);
    for (let i = len - 1; i >= 1; i--) {
      buf[off + i] = Number(v & 0xffn);
      v >>= 8n;
    }
    buf[off] = 0x80;
    return;
  }
  buf.write(s, off, "ascii");
  buf[off + len - 1] = 0;
}

function checksum(block: Buffer): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(sum.toString(8).padStart(6, "0"), 148, "ascii");
  block[154] = 0;
  block[155] = 0x20;
}

/** One raw header block. */
export function header(h: {
  name: string;
  typeflag: string;
  size?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  prefix?: string;
  gnuMagic?: boolean;
}): Buffer {
  const b = Buffer.alloc(BLOCK);
  Buffer.from(h.name).copy(b, 0, 0, 100);
  octal(b, 100, 8, h.mode ?? 0o644);
  octal(b, 108, 8, h.uid ?? 0);
  octal(b, 116, 8, h.gid ?? 0);
  octal(b, 124, 12, h.size ?? 0);
  octal(b, 136, 12, h.mtime ?? 1_700_000_000);
  b.write(h.typeflag, 156, "latin1");
  if (h.linkname) Buffer.from(h.linkname).copy(b, 157, 0, 100);
  if (h.gnuMagic) b.write("ustar  \0", 257, "latin1");
  else {
    b.write("ustar\0", 257, "latin1");
    b.write("00", 263, "ascii");
  }
  octal(b, 329, 8, h.devmajor ?? 0);
  octal(b, 337, 8, h.devminor ?? 0);
  if (h.prefix) Buffer.from(h.prefix).copy(b, 345, 0, 155);
  checksum(b);
  return b;
}

function padded(data: Buffer): Buffer {
  const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
  return Buffer.concat([data, Buffer.alloc(pad)]);
}

export function paxRecord(key: string, value: string | Buffer): Buffer {
  const v = Buffer.isBuffer(value) ? value : Buffer.from(value);
  const base = Buffer.byteLength(key) + v.length + 3;
  let len = base + 1;
  while (String(len).length + base !== len) len = String(len).length + base;
  return Buffer.concat([Buffer.from(`${len} ${key}=`), v, Buffer.from("\n")]);
}

/** The blocks of one entry: its metadata headers, its header, its data. */
export function entryBlocks(e: TarEntry): Buffer {
  const parts: Buffer[] = [];
  const data = e.data === undefined ? Buffer.alloc(0) : Buffer.isBuffer(e.data) ? e.data : Buffer.from(e.data);
  const typeflag = e.typeflag ?? TYPEFLAG[e.type ?? "file"];
  let name = e.name;
  let linkname = e.linkname ?? "";
  const records: Buffer[] = [];
  for (const [k, v] of Object.entries(e.pax ?? {})) records.push(paxRecord(k, v));
  for (const [k, v] of Object.entries(e.xattrs ?? {})) records.push(paxRecord(`SCHILY.xattr.${k}`, v));
  if (Buffer.byteLength(name) > 100) {
    if (e.gnu) {
      const n = Buffer.from(name + "\0");
      parts.push(header({ name: "././@LongLink", typeflag: "L", size: n.length, gnuMagic: true }), padded(n));
    } else records.push(paxRecord("path", name));
    name = name.slice(0, 100);
  }
  if (Buffer.byteLength(linkname) > 100) {
    if (e.gnu) {
      const n = Buffer.from(linkname + "\0");
      parts.push(header({ name: "././@LongLink", typeflag: "K", size: n.length, gnuMagic: true }), padded(n));
    } else records.push(paxRecord("linkpath", linkname));
    linkname = linkname.slice(0, 100);
  }
  if (records.length > 0) {
    const body = Buffer.concat(records);
    parts.push(header({ name: "PaxHeaders.0/x", typeflag: "x", size: body.length }), padded(body));
  }
  parts.push(
    header({
      name,
      typeflag,
      size: typeflag === "0" || typeflag === "7" ? data.length : 0,
      mode: e.mode ?? (e.type === "dir" ? 0o755 : 0o644),
      uid: e.uid,
      gid: e.gid,
      mtime: e.mtime,
      linkname,
      devmajor: e.devmajor,
      devminor: e.devminor,
      gnuMagic: e.gnu,
    }),
  );
  if (typeflag === "0" || typeflag === "7") parts.push(padded(data));
  return Buffer.concat(parts);
}

/** A whole archive; `end: false` leaves out the two zero blocks. */
export function buildTar(entries: TarEntry[], opts: { end?: boolean } = {}): Buffer {
  const parts = entries.map(entryBlocks);
  if (opts.end !== false) parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

export interface ParsedEntry {
  name: string;
  typeflag: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** The PAX records that came before it. */
  pax: Record<string, Buffer>;
  data: Buffer;
}

function str(b: Buffer, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const nul = s.indexOf(0);
  return (nul >= 0 ? s.subarray(0, nul) : s).toString("utf8");
}

function num(b: Buffer, off: number, len: number): number {
  if (b[off]! & 0x80) {
    let v = 0n;
    for (let i = 0; i < len; i++) v = (v << 8n) | BigInt(i === 0 ? b[off]! & 0x7f : b[off + i]!);
    return Number(v);
  }
  const s = str(b, off, len).trim();
  return s ? parseInt(s, 8) : 0;
}

function parsePax(body: Buffer): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  let pos = 0;
  while (pos < body.length) {
    const sp = body.indexOf(0x20, pos);
    const len = parseInt(body.subarray(pos, sp).toString(), 10);
    const rec = body.subarray(sp + 1, pos + len - 1);
    const eq = rec.indexOf(0x3d);
    out[rec.subarray(0, eq).toString()] = Buffer.from(rec.subarray(eq + 1));
    pos += len;
  }
  return out;
}

/** Reads an archive as this project writes them (ustar + PAX 'x'); checks every checksum. */
export function parseTar(buf: Buffer): ParsedEntry[] {
  const out: ParsedEntry[] = [];
  let pos = 0;
  let pax: Record<string, Buffer> = {};
  while (pos + BLOCK <= buf.length) {
    const h = buf.subarray(pos, pos + BLOCK);
    if (h.every((b) => b === 0)) break;
    const want = num(h, 148, 8);
    const copy = Buffer.from(h);
    copy.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of copy) sum += b;
    if (sum !== want) throw new Error(`bad checksum at offset ${pos}`);
    const typeflag = String.fromCharCode(h[156]!);
    let size = num(h, 124, 12);
    if (pax.size) size = Number(pax.size.toString());
    const dataStart = pos + BLOCK;
    const data = buf.subarray(dataStart, dataStart + size);
    pos = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (typeflag === "x") {
      pax = { ...pax, ...parsePax(data) };
      continue;
    }
    const prefix = str(h, 345, 155);
    const short = str(h, 0, 100);
    out.push({
      name: pax.path ? pax.path.toString() : prefix ? `${prefix}/${short}` : short,
      typeflag,
      size,
      mode: num(h, 100, 8),
      uid: pax.uid ? Number(pax.uid.toString()) : num(h, 108, 8),
      gid: pax.gid ? Number(pax.gid.toString()) : num(h, 116, 8),
      mtime: pax.mtime ? Number(pax.mtime.toString()) : num(h, 136, 12),
      linkname: pax.linkpath ? pax.linkpath.toString() : str(h, 157, 100),
      devmajor: num(h, 329, 8),
      devminor: num(h, 337, 8),
      pax,
      data: Buffer.from(data),
    });
    pax = {};
  }
  return out;
}
