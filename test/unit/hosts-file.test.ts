/**
 * A container's /etc/hosts: Docker's preamble, its own line, then
 * --add-host entries, IPv6 ones included ("name:ip", "name=ip", "[ip]").
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HOSTS_PREAMBLE, hostsText } from "../../src/network/container-network.ts";

describe("hostsText", () => {
  it("the container's line, then the extra hosts with IPv4 and IPv6 addresses", () => {
    const text = hostsText("172.18.0.2", { hostname: "web", domainname: "", extraHosts: ["v4:10.0.0.1", "v6:::1", "v6b=2001:db8::1", "v6c:[2001:db8::2]"] });
    assert.equal(text, `${HOSTS_PREAMBLE}172.18.0.2\tweb\n10.0.0.1\tv4\n::1\tv6\n2001:db8::1\tv6b\n2001:db8::2\tv6c\n`);
  });

  it("host-gateway is the address given for it; without one the entry is left out", () => {
    assert.equal(hostsText(undefined, { hostname: "h", extraHosts: ["gw:host-gateway", "x:1.2.3.4"] }, "172.17.0.1"), `${HOSTS_PREAMBLE}172.17.0.1\tgw\n1.2.3.4\tx\n`);
    assert.equal(hostsText(undefined, { hostname: "h", extraHosts: ["gw:host-gateway"] }), HOSTS_PREAMBLE);
  });

  it("no address: no line of its own; a domain gives the full name first", () => {
    assert.equal(hostsText(undefined, { hostname: "h" }), HOSTS_PREAMBLE);
    assert.equal(hostsText("10.1.1.1", { hostname: "h", domainname: "example" }), `${HOSTS_PREAMBLE}10.1.1.1\th.example h\n`);
  });
});
