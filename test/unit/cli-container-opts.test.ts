/**
 * The parsers behind `hako run`/`hako create` flags, against docker's
 * semantics (go-units, docker/cli opts, volumespec, go-connections/nat)
 * and the create body the docker CLI 28 sends for the same command line
 * (the bodies below were captured from docker 28.2.2 talking to a fake
 * daemon at API 1.44).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { parseFlags } from "../../src/cli/flags.ts";
import { CREATE_FLAGS, RUN_FLAGS, parseContainerConfig, usageErrorText } from "../../src/cli/commands/container/opts.ts";
import {
  FlagValueError,
  convertPublishNotation,
  fromHumanSize,
  memSwapBytes,
  parseCpus,
  parseCsvRecord,
  parseDevice,
  parseExpose,
  parseGoDuration,
  parseKvText,
  parseMount,
  parseNetworkOpt,
  parsePortSpecs,
  parseRestartPolicy,
  parseUlimit,
  parseVolumeSpec,
  ramInBytes,
  readKvEnvStrings,
  validateEnv,
  validateExtraHost,
  validateIpAddress,
  validateSysctl,
} from "../../src/cli/commands/container/parse.ts";
import { updateConfigOf } from "../../src/cli/commands/container/changes.ts";

describe("sizes (go-units RAMInBytes)", () => {
  test("units are powers of 1024, case-insensitive, with an optional b/ib", () => {
    assert.equal(ramInBytes("64m"), 64 * 1024 * 1024);
    assert.equal(ramInBytes("1g"), 1024 ** 3);
    assert.equal(ramInBytes("1G"), 1024 ** 3);
    assert.equal(ramInBytes("512k"), 512 * 1024);
    assert.equal(ramInBytes("512kb"), 512 * 1024);
    assert.equal(ramInBytes("512KiB"), 512 * 1024);
    assert.equal(ramInBytes("100b"), 100);
    assert.equal(ramInBytes("100"), 100);
    assert.equal(ramInBytes("1.5m"), 1572864);
    assert.equal(ramInBytes("32 mb"), 32 * 1024 * 1024);
    assert.equal(ramInBytes("1t"), 1024 ** 4);
    assert.equal(ramInBytes("0.5k"), 512);
    assert.equal(ramInBytes("1.9"), 1, "truncated like int64(size)");
  });

  test("docker's errors", () => {
    assert.throws(() => ramInBytes("12x"), /^Error: invalid suffix: 'x'$/);
    assert.throws(() => ramInBytes("1mx"), /^Error: invalid suffix: 'mx'$/);
    assert.throws(() => ramInBytes("1kB2"), /strconv.ParseFloat: parsing "1kB2": invalid syntax/);
    assert.throws(() => ramInBytes("m"), /^Error: invalid size: 'm'$/);
    assert.throws(() => ramInBytes("-1"), /^Error: invalid size: '-1'$/);
    assert.throws(() => ramInBytes("1bb"), /invalid suffix: 'bb'/);
    assert.throws(() => ramInBytes("1kbb"), /invalid suffix: 'kbbb'|invalid suffix/);
  });

  test("decimal sizes and --memory-swap's -1", () => {
    assert.equal(fromHumanSize("1k"), 1000);
    assert.equal(fromHumanSize("2MB"), 2_000_000);
    assert.equal(memSwapBytes("-1"), -1);
    assert.equal(memSwapBytes("1g"), 1024 ** 3);
  });
});

describe("--cpus (opts.NanoCPUs)", () => {
  test("rational numbers of CPUs as nano-CPUs", () => {
    assert.equal(parseCpus("1.5"), 1_500_000_000);
    assert.equal(parseCpus("2"), 2_000_000_000);
    assert.equal(parseCpus("0.000000001"), 1);
    assert.equal(parseCpus("3/2"), 1_500_000_000);
    assert.equal(parseCpus("1e-3"), 1_000_000);
    assert.equal(parseCpus(".5"), 500_000_000);
  });
  test("errors", () => {
    assert.throws(() => parseCpus("0.0000000001"), /^Error: value is too precise$/);
    assert.throws(() => parseCpus("abc"), /^Error: failed to parse abc as a rational number$/);
    assert.throws(() => parseCpus("1/0"), /failed to parse 1\/0 as a rational number/);
  });
});

describe("durations (time.ParseDuration)", () => {
  test("Go's units and forms", () => {
    assert.equal(parseGoDuration("5s"), 5e9);
    assert.equal(parseGoDuration("1m30s"), 90e9);
    assert.equal(parseGoDuration("1.5h"), 5400e9);
    assert.equal(parseGoDuration("300ms"), 3e8);
    assert.equal(parseGoDuration("2us"), 2000);
    assert.equal(parseGoDuration("2µs"), 2000);
    assert.equal(parseGoDuration("0"), 0);
    assert.equal(parseGoDuration("-1s"), -1e9);
  });
  test("errors", () => {
    assert.throws(() => parseGoDuration("5"), /^Error: time: missing unit in duration "5"$/);
    assert.throws(() => parseGoDuration("5x"), /^Error: time: unknown unit "x" in duration "5x"$/);
    assert.throws(() => parseGoDuration("s"), /^Error: time: invalid duration "s"$/);
    assert.throws(() => parseGoDuration(""), /invalid duration/);
  });
});

describe("--ulimit (go-units ParseUlimit)", () => {
  test("soft[:hard]", () => {
    assert.deepEqual(parseUlimit("nofile=1024:2048"), { Name: "nofile", Hard: 2048, Soft: 1024 });
    assert.deepEqual(parseUlimit("nproc=512"), { Name: "nproc", Hard: 512, Soft: 512 });
    assert.deepEqual(parseUlimit("core=-1"), { Name: "core", Hard: -1, Soft: -1 });
    assert.deepEqual(parseUlimit("memlock=100:-1"), { Name: "memlock", Hard: -1, Soft: 100 });
  });
  test("errors", () => {
    assert.throws(() => parseUlimit("nofile"), /^Error: invalid ulimit argument: nofile$/);
    assert.throws(() => parseUlimit("as=1"), /^Error: invalid ulimit type: as$/);
    assert.throws(() => parseUlimit("nofile=3:2"), /^Error: ulimit soft limit must be less than or equal to hard limit: 3 > 2$/);
    assert.throws(() => parseUlimit("nofile=-1:2"), /soft: -1 \(unlimited\), hard: 2/);
    assert.throws(() => parseUlimit("nofile=1:2:3"), /too many limit value arguments - 1:2:3/);
    assert.throws(() => parseUlimit("nofile=x"), /strconv.ParseInt: parsing "x": invalid syntax/);
  });
});

describe("--restart", () => {
  test("policies", () => {
    assert.deepEqual(parseRestartPolicy("no"), { Name: "no", MaximumRetryCount: 0 });
    assert.deepEqual(parseRestartPolicy("always"), { Name: "always", MaximumRetryCount: 0 });
    assert.deepEqual(parseRestartPolicy("unless-stopped"), { Name: "unless-stopped", MaximumRetryCount: 0 });
    assert.deepEqual(parseRestartPolicy("on-failure"), { Name: "on-failure", MaximumRetryCount: 0 });
    assert.deepEqual(parseRestartPolicy("on-failure:5"), { Name: "on-failure", MaximumRetryCount: 5 });
    assert.deepEqual(parseRestartPolicy(""), {});
  });
  test("errors", () => {
    assert.throws(() => parseRestartPolicy(":3"), /no policy provided before colon/);
    assert.throws(() => parseRestartPolicy("on-failure:x"), /maximum retry count must be an integer/);
  });
});

describe("--mount (opts.MountOpt)", () => {
  test("bind, volume and tmpfs mounts with their options", () => {
    assert.deepEqual(parseMount("type=bind,src=/a,dst=/b,readonly"), { Type: "bind", Source: "/a", Target: "/b", ReadOnly: true });
    assert.deepEqual(parseMount("type=bind,source=./x,target=/b", "/work"), { Type: "bind", Source: "/work/x", Target: "/b" });
    assert.deepEqual(parseMount("type=bind,src=/a,dst=/b,bind-propagation=rshared"), { Type: "bind", Source: "/a", Target: "/b", BindOptions: { Propagation: "rshared" } });
    assert.deepEqual(parseMount("src=data,dst=/data"), { Type: "volume", Source: "data", Target: "/data" });
    assert.deepEqual(parseMount("type=volume,src=myvol,dst=/mv,volume-label=k=v,volume-nocopy"), {
      Type: "volume",
      Source: "myvol",
      Target: "/mv",
      VolumeOptions: { NoCopy: true, Labels: { k: "v" }, DriverConfig: {} },
    });
    assert.deepEqual(parseMount("type=tmpfs,dst=/tt,tmpfs-size=1m,tmpfs-mode=1777"), { Type: "tmpfs", Target: "/tt", TmpfsOptions: { SizeBytes: 1048576, Mode: 0o1777 } });
    assert.deepEqual(parseMount("type=bind,src=/a,dst=/b,ro=false"), { Type: "bind", Source: "/a", Target: "/b" });
    assert.deepEqual(parseMount('type=bind,"src=/a,b",dst=/c'), { Type: "bind", Source: "/a,b", Target: "/c" });
  });
  test("docker's errors", () => {
    assert.throws(() => parseMount("type=bind,src=/a"), /^Error: target is required$/);
    assert.throws(() => parseMount("type=bind,dst=/b,foo"), /^Error: invalid field 'foo' must be a key=value pair$/);
    assert.throws(() => parseMount("type=bind,dst=/b,foo=1"), /^Error: unexpected key 'foo' in 'foo=1'$/);
    assert.throws(() => parseMount("type=bind,dst=/b,volume-nocopy"), /cannot mix 'volume-\*' options with mount type 'bind'/);
    assert.throws(() => parseMount("type=tmpfs,dst=/b,tmpfs-size=x"), /invalid value for tmpfs-size: x/);
    assert.throws(() => parseMount("type=bind,dst=/b,readonly=maybe"), /invalid value for readonly: maybe/);
  });
  test("encoding/csv quoting", () => {
    assert.deepEqual(parseCsvRecord('a,"b,c",d'), ["a", "b,c", "d"]);
    assert.deepEqual(parseCsvRecord('"say ""hi"""'), ['say "hi"']);
    assert.throws(() => parseCsvRecord('a"b'), /bare " in non-quoted-field/);
  });
});

describe("-v (volumespec)", () => {
  test("binds, named and anonymous volumes", () => {
    assert.deepEqual(parseVolumeSpec("/data"), { type: "volume", source: "", target: "/data", readOnly: false });
    assert.deepEqual(parseVolumeSpec("/host:/ctr"), { type: "bind", source: "/host", target: "/ctr", readOnly: false });
    assert.deepEqual(parseVolumeSpec("/host:/ctr:ro"), { type: "bind", source: "/host", target: "/ctr", readOnly: true });
    assert.deepEqual(parseVolumeSpec("./rel:/ctr:rw,z"), { type: "bind", source: "./rel", target: "/ctr", readOnly: false });
    assert.deepEqual(parseVolumeSpec("name:/ctr"), { type: "volume", source: "name", target: "/ctr", readOnly: false });
    assert.deepEqual(parseVolumeSpec("~/x:/y"), { type: "bind", source: "~/x", target: "/y", readOnly: false });
  });
  test("errors", () => {
    assert.throws(() => parseVolumeSpec(""), /invalid empty volume spec/);
    assert.throws(() => parseVolumeSpec("/a::/b"), /invalid spec: \/a::\/b: empty section between colons/);
    assert.throws(() => parseVolumeSpec("/a:/b:ro:x"), /too many colons/);
  });
  test("in the create body: binds in HostConfig (relative ones made absolute), the rest in Volumes", () => {
    const { flags } = parseFlags(["-v", "/data", "-v", "./here:/there", "-v", "named:/n:ro", "-v", "/data"], RUN_FLAGS);
    const c = parseContainerConfig(flags, "busybox", [], { cwd: "/home/u" });
    assert.deepEqual(c.hostConfig.Binds, ["/home/u/here:/there", "named:/n:ro"]);
    assert.deepEqual(c.config.Volumes, { "/data": {} });
  });
});

describe("-e and --env-file (opts.ValidateEnv, kvfile)", () => {
  test("KEY alone takes the client's value, or stays bare", () => {
    assert.equal(validateEnv("A=1", {}), "A=1");
    assert.equal(validateEnv("A=", {}), "A=");
    assert.equal(validateEnv("HOME", { HOME: "/root" }), "HOME=/root");
    assert.equal(validateEnv("NOPE", {}), "NOPE");
    assert.throws(() => validateEnv("=x", {}), /invalid environment variable: =x/);
  });
  test("env files: comments, blank lines, BOM, leading space, KEY lookups; -e wins", () => {
    const text = Buffer.from("\uFEFF# comment\n\n  A=1\nB= spaced \nLOOKED\nMISSING\nC=x=y\r\n");
    assert.deepEqual(parseKvText(text, "f", (k) => (k === "LOOKED" ? "found" : undefined)), ["A=1", "B= spaced ", "LOOKED=found", "C=x=y"]);
    assert.throws(() => parseKvText(Buffer.from("BAD KEY=1\n"), "f"), /variable 'BAD KEY' contains whitespaces/);
    assert.throws(() => parseKvText(Buffer.from("=1\n"), "f"), /no variable name on line '=1'/);
    assert.throws(() => parseKvText(Buffer.from([0x41, 0x3d, 0xff, 0x0a]), "f"), /invalid utf8 bytes at line 1/);
    const dir = mkdtempSync(path.join(os.tmpdir(), "hako-envfile-"));
    try {
      const file = path.join(dir, "env");
      writeFileSync(file, "A=from-file\nB=b\nUSER_HOME\n");
      assert.deepEqual(readKvEnvStrings([file], ["A=override"], { USER_HOME: "/h" }), ["A=from-file", "B=b", "USER_HOME=/h", "A=override"]);
      const { flags } = parseFlags(["--env-file", file, "-e", "X", "-e", "A=1", "-e", "A=2"], RUN_FLAGS);
      const c = parseContainerConfig(flags, "busybox", [], { env: { X: "ex", USER_HOME: "/h" } });
      assert.deepEqual(c.config.Env, ["A=from-file", "B=b", "USER_HOME=/h", "X=ex", "A=2"]);
      assert.throws(() => readKvEnvStrings([path.join(dir, "missing")], []), /open .*missing: no such file or directory/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("-p and --expose (go-connections/nat)", () => {
  test("port specs", () => {
    assert.deepEqual(parsePortSpecs(["8080:80"]), { exposed: { "80/tcp": {} }, bindings: { "80/tcp": [{ HostIp: "", HostPort: "8080" }] } });
    assert.deepEqual(parsePortSpecs(["80"]), { exposed: { "80/tcp": {} }, bindings: { "80/tcp": [{ HostIp: "", HostPort: "" }] } });
    assert.deepEqual(parsePortSpecs(["127.0.0.1:53:53/udp"]), { exposed: { "53/udp": {} }, bindings: { "53/udp": [{ HostIp: "127.0.0.1", HostPort: "53" }] } });
    assert.deepEqual(parsePortSpecs(["[::1]:80:80"]).bindings, { "80/tcp": [{ HostIp: "::1", HostPort: "80" }] });
    assert.deepEqual(parsePortSpecs(["127.0.0.1::80"]).bindings, { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }] });
    assert.deepEqual(parsePortSpecs(["9000-9001:9000-9001"]).bindings, {
      "9000/tcp": [{ HostIp: "", HostPort: "9000" }],
      "9001/tcp": [{ HostIp: "", HostPort: "9001" }],
    });
    assert.deepEqual(parsePortSpecs(["8000-8010:80"]).bindings, { "80/tcp": [{ HostIp: "", HostPort: "8000-8010" }] });
    assert.deepEqual(parsePortSpecs(["80:80", "81:80"]).bindings, { "80/tcp": [{ HostIp: "", HostPort: "80" }, { HostIp: "", HostPort: "81" }] });
    assert.equal(convertPublishNotation("published=8080,target=80,protocol=udp"), "8080:80/udp");
    assert.equal(convertPublishNotation("target=80"), ":80/tcp");
  });
  test("errors", () => {
    assert.throws(() => parsePortSpecs(["80/xyz"]), /invalid proto: xyz/);
    assert.throws(() => parsePortSpecs(["1.2.3:80:80"]), /invalid IP address: 1\.2\.3/);
    assert.throws(() => parsePortSpecs(["8080:"]), /no port specified: 8080:<empty>/);
    assert.throws(() => parsePortSpecs(["abc:80"]), /invalid hostPort: abc/);
    assert.throws(() => parsePortSpecs(["80-81:90-92"]), /invalid ranges specified for container and host Ports: 90-92 and 80-81/);
    assert.throws(() => convertPublishNotation("published=1,target"), /invalid publish opts format \(should be name=value but got 'target'\)/);
  });
  test("--expose", () => {
    assert.deepEqual(parseExpose("80"), ["80/tcp"]);
    assert.deepEqual(parseExpose("7000-7002/udp"), ["7000/udp", "7001/udp", "7002/udp"]);
    assert.throws(() => parseExpose("80:80"), /invalid port format for --expose: 80:80/);
  });
});

describe("other value checks", () => {
  test("devices", () => {
    assert.deepEqual(parseDevice("/dev/sda"), { PathOnHost: "/dev/sda", PathInContainer: "/dev/sda", CgroupPermissions: "rwm" });
    assert.deepEqual(parseDevice("/dev/sda:/dev/xvda:r"), { PathOnHost: "/dev/sda", PathInContainer: "/dev/xvda", CgroupPermissions: "r" });
    assert.deepEqual(parseDevice("/dev/sda:rw"), { PathOnHost: "/dev/sda", PathInContainer: "/dev/sda", CgroupPermissions: "rw" });
    assert.throws(() => parseDevice("/dev/a:rel"), /rel is not an absolute path/);
    assert.throws(() => parseDevice("/dev/a:/dev/b:xyz"), /bad mode specified: xyz/);
  });
  test("sysctls, IPs, extra hosts, networks", () => {
    assert.equal(validateSysctl("net.ipv4.ip_forward=1"), "net.ipv4.ip_forward=1");
    assert.equal(validateSysctl("kernel.shmmax=1"), "kernel.shmmax=1");
    assert.throws(() => validateSysctl("kernel.hostname=x"), /sysctl 'kernel.hostname=x' is not allowed/);
    assert.equal(validateIpAddress("2001:DB8:0:0:0:0:0:1"), "2001:db8::1");
    assert.throws(() => validateIpAddress("1.2.3"), /IP address is not correctly formatted: 1\.2\.3/);
    assert.equal(validateExtraHost("h=::1"), "h:::1");
    assert.equal(validateExtraHost("h:[::1]"), "h:::1");
    assert.equal(validateExtraHost("gw:host-gateway"), "gw:host-gateway");
    assert.throws(() => validateExtraHost("nohost"), /bad format for add-host: "nohost"/);
    assert.equal(parseNetworkOpt("host").target, "host");
    assert.deepEqual(parseNetworkOpt("name=net1,alias=web,ip=10.0.0.2").aliases, ["web"]);
    assert.throws(() => parseNetworkOpt("alias=web"), /network name\/id is not specified/);
  });
});

describe("the create body", () => {
  const body = (args: string[], consoleSize: [number, number] = [0, 0]): string => {
    const { flags, args: rest } = parseFlags(args, RUN_FLAGS, { stopAtFirstArg: true });
    return JSON.stringify(parseContainerConfig(flags, rest[0]!, rest.slice(1), { consoleSize, env: { HOME: "/root" }, cwd: "/" }).body);
  };

  test("`run busybox`: docker 28.2.2's body, byte for byte", () => {
    assert.equal(
      body(["busybox"]),
      '{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":null,"Image":"busybox","Volumes":{},"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{},"HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"default","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":-1,"OomKillDisable":false,"PidsLimit":0,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{"default":{"IPAMConfig":null,"Links":null,"Aliases":null,"MacAddress":"","DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}}}',
    );
  });

  test("a long command line: docker 28.2.2's body", () => {
    const args = [
      "--rm", "--privileged", "-t", "--sysctl", "net.ipv4.ip_forward=1", "--runtime", "runc", "--storage-opt", "size=1G", "--stop-signal", "SIGKILL", "--stop-timeout", "5",
      "--entrypoint", "/bin/sh", "-w", "/tmp", "-u", "1000:1000", "-h", "myhost", "--network", "host", "--dns", "8.8.8.8", "--add-host", "a:1.2.3.4",
      "--device", "/dev/null:/dev/xnull:rw", "--security-opt", "no-new-privileges", "--security-opt", "systempaths=unconfined", "--group-add", "10",
      "--log-driver", "json-file", "--log-opt", "max-size=1m", "--pids-limit", "10", "--oom-kill-disable", "--oom-score-adj", "100", "--read-only", "-l", "a=b", "-l", "c",
      "--shm-size", "64m", "--memory-swap", "-1", "-m", "1g", "--memory-reservation", "512m", "-c", "512", "--ipc", "host", "--pid", "host", "--uts", "host",
      "--cpuset-cpus", "0-1", "--cpuset-mems", "0", "--cpu-quota", "50000", "--cpu-period", "100000", "--device-cgroup-rule", "c 1:3 rwm", "--health-interval", "5s",
      "--health-timeout", "2s", "--health-retries", "3", "--health-start-period", "1s", "--annotation", "x=y", "--cap-drop", "ALL", "--cap-add", "sys_admin",
      "--cap-add", "CAP_CHOWN", "--expose", "9000-9001", "-P", "--mount", "type=volume,src=myvol,dst=/mv,volume-label=k=v,volume-nocopy",
      "--mount", "type=tmpfs,dst=/tt,tmpfs-size=1m,tmpfs-mode=1777", "--domainname", "dom", "--mac-address", "92:d0:c6:0a:29:33", "busybox:1.36", "ls", "-l",
    ];
    assert.equal(
      body(args),
      '{"Hostname":"myhost","Domainname":"dom","User":"1000:1000","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"ExposedPorts":{"9000/tcp":{},"9001/tcp":{}},"Tty":true,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":["ls","-l"],"Healthcheck":{"Interval":5000000000,"Timeout":2000000000,"StartPeriod":1000000000,"Retries":3},"Image":"busybox:1.36","Volumes":{},"WorkingDir":"/tmp","Entrypoint":["/bin/sh"],"OnBuild":null,"Labels":{"a":"b","c":""},"StopSignal":"SIGKILL","StopTimeout":5,"HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"json-file","Config":{"max-size":"1m"}},"NetworkMode":"host","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":true,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"Annotations":{"x":"y"},"CapAdd":["CAP_CHOWN","CAP_SYS_ADMIN"],"CapDrop":["ALL"],"CgroupnsMode":"","Dns":["8.8.8.8"],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":["a:1.2.3.4"],"GroupAdd":["10"],"IpcMode":"host","Cgroup":"","Links":null,"OomScoreAdj":100,"PidMode":"host","Privileged":true,"PublishAllPorts":true,"ReadonlyRootfs":true,"SecurityOpt":["no-new-privileges"],"StorageOpt":{"size":"1G"},"UTSMode":"host","UsernsMode":"","ShmSize":67108864,"Sysctls":{"net.ipv4.ip_forward":"1"},"Runtime":"runc","Isolation":"","CpuShares":512,"Memory":1073741824,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":100000,"CpuQuota":50000,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"0-1","CpusetMems":"0","Devices":[{"PathOnHost":"/dev/null","PathInContainer":"/dev/xnull","CgroupPermissions":"rw"}],"DeviceCgroupRules":["c 1:3 rwm"],"DeviceRequests":null,"MemoryReservation":536870912,"MemorySwap":-1,"MemorySwappiness":-1,"OomKillDisable":true,"PidsLimit":10,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"Mounts":[{"Type":"volume","Source":"myvol","Target":"/mv","VolumeOptions":{"NoCopy":true,"Labels":{"k":"v"},"DriverConfig":{}}},{"Type":"tmpfs","Target":"/tt","TmpfsOptions":{"SizeBytes":1048576,"Mode":1023}}],"MaskedPaths":[],"ReadonlyPaths":[]},"NetworkingConfig":{"EndpointsConfig":{"host":{"IPAMConfig":null,"Links":null,"Aliases":null,"MacAddress":"92:d0:c6:0a:29:33","DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}}}',
    );
  });

  test("-i attaches stdin (StdinOnce), -a limits the streams, ConsoleSize is the terminal's", () => {
    const withI = JSON.parse(body(["-i", "busybox"], [24, 80])) as Record<string, unknown> & { HostConfig: { ConsoleSize: number[] } };
    assert.equal(withI.AttachStdin, true);
    assert.equal(withI.OpenStdin, true);
    assert.equal(withI.StdinOnce, true);
    assert.deepEqual(withI.HostConfig.ConsoleSize, [24, 80]);
    const a = JSON.parse(body(["-a", "STDERR", "busybox"])) as Record<string, unknown>;
    assert.deepEqual([a.AttachStdin, a.AttachStdout, a.AttachStderr], [false, false, true]);
    const e = JSON.parse(body(["--entrypoint=", "busybox"])) as Record<string, unknown>;
    assert.deepEqual(e.Entrypoint, [""]);
    const n = JSON.parse(body(["--network", "mynet", "--network-alias", "web", "busybox"])) as { NetworkingConfig: { EndpointsConfig: Record<string, { Aliases: string[] }> } };
    assert.deepEqual(n.NetworkingConfig.EndpointsConfig.mynet!.Aliases, ["web"]);
  });

  test("problems: flag values (pflag's message) and conflicts (docker's)", () => {
    const parse = (args: string[]): unknown => {
      const { flags, args: rest } = parseFlags(args, RUN_FLAGS, { stopAtFirstArg: true });
      return parseContainerConfig(flags, rest[0]!, rest.slice(1), {});
    };
    assert.throws(() => parse(["-m", "1x", "busybox"]), (err: unknown) => err instanceof FlagValueError && err.message === `invalid argument "1x" for "-m, --memory" flag: invalid suffix: 'x'`);
    assert.throws(() => parse(["--cpus", "x", "busybox"]), /invalid argument "x" for "--cpus" flag: failed to parse x as a rational number/);
    assert.throws(() => parse(["--ulimit", "bogus=1", "busybox"]), /invalid argument "bogus=1" for "--ulimit" flag: invalid ulimit type: bogus/);
    assert.throws(() => parse(["--health-interval", "5", "busybox"]), /invalid argument "5" for "--health-interval" flag: time: missing unit in duration "5"/);
    assert.throws(() => parse(["--rm", "--restart", "always", "busybox"]), /conflicting options: cannot specify both --restart and --rm/);
    assert.throws(() => parse(["--no-healthcheck", "--health-cmd", "x", "busybox"]), /--no-healthcheck conflicts with --health-\* options/);
    assert.throws(() => parse(["--pid", "bogus", "busybox"]), /--pid: invalid PID mode/);
    assert.throws(() => parse(["--memory-swappiness", "101", "busybox"]), /invalid value: 101\. Valid memory swappiness range is 0-100/);
    assert.throws(() => parse(["-a", "stdio", "busybox"]), /valid streams are STDIN, STDOUT and STDERR/);
    assert.throws(() => parse(["--security-opt", "seccomp", "busybox"]), /Invalid --security-opt: "seccomp"/);
    assert.equal(usageErrorText(new FlagValueError("invalid argument"), "hako run"), "invalid argument\nSee 'hako run --help'.\n");
    assert.equal(usageErrorText(new Error("conflict"), "hako create"), "hako: conflict\n\nRun 'hako create --help' for more information\n");
  });

  test("flags stop at the image: the command's own flags are its arguments", () => {
    const { flags, args } = parseFlags(["-d", "--rm", "busybox", "ls", "-l", "--rm"], CREATE_FLAGS.concat(RUN_FLAGS.filter((f) => f.name === "detach")), { stopAtFirstArg: true });
    assert.equal(flags.detach, true);
    assert.deepEqual(args, ["busybox", "ls", "-l", "--rm"]);
  });
});

describe("update's body", () => {
  test("docker 28.2.2's body for -m 64m --cpus 0.5 --restart always --pids-limit 5", () => {
    const { flags } = parseFlags(["-m", "64m", "--cpus", "0.5", "--restart", "always", "--pids-limit", "5"], [
      { name: "memory", short: "m", type: "string", help: "" },
      { name: "cpus", type: "string", help: "" },
      { name: "restart", type: "string", help: "" },
      { name: "pids-limit", type: "int", help: "" },
    ]);
    assert.equal(
      JSON.stringify(updateConfigOf(flags)),
      '{"CpuShares":0,"Memory":67108864,"NanoCpus":500000000,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":null,"BlkioDeviceReadBps":null,"BlkioDeviceWriteBps":null,"BlkioDeviceReadIOps":null,"BlkioDeviceWriteIOps":null,"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":null,"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":null,"OomKillDisable":null,"PidsLimit":5,"Ulimits":null,"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"RestartPolicy":{"Name":"always","MaximumRetryCount":0}}',
    );
  });
});
