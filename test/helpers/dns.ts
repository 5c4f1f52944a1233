/**
 * A minimal DNS client for the network tests: one A query over UDP to an
 * address the test made (a network's gateway), never to public resolvers.
 */
import { randomBytes } from "node:crypto";
import dgram from "node:dgram";

/** An A query for `name` to server:53 over UDP: the addresses answered, or the rcode. */
export function queryA(server: string, name: string, port = 53, timeoutMs = 5000): Promise<{ rcode: number; addresses: string[] }> {
  const id = randomBytes(2).readUInt16BE(0);
  const labels = name.split(".").map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const msg = Buffer.concat([Buffer.from([id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket("udp4");
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error(`no DNS answer from ${server} for ${name}`));
    }, timeoutMs);
    sock.on("message", (reply) => {
      clearTimeout(timer);
      sock.close();
      const rcode = reply.readUInt16BE(2) & 15;
      const ancount = reply.readUInt16BE(6);
      const addresses: string[] = [];
      // Our resolver's answers are fixed-size records after the echoed question.
      let off = msg.length;
      for (let i = 0; i < ancount; i++) {
        if (reply.readUInt16BE(off + 2) === 1) addresses.push([...reply.subarray(off + 12, off + 16)].join("."));
        off += 12 + reply.readUInt16BE(off + 10);
      }
      resolve({ rcode, addresses });
    });
    sock.send(msg, port, server);
  });
}

