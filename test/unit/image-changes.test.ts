/**
 * Dockerfile instructions applied to a config (`commit -c`, `import -c`),
 * as moby's BuildFromConfig applies them.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { applyChanges } from "../../src/build/changes.ts";

describe("applyChanges", () => {
  it("a new ENTRYPOINT drops the old CMD, unless a CMD comes with it", () => {
    const base = { Cmd: ["sh", "-c", "old"], Entrypoint: null };
    assert.deepEqual(applyChanges(base, ['ENTRYPOINT ["/bin/echo"]']), { Cmd: null, Entrypoint: ["/bin/echo"] });
    assert.deepEqual(applyChanges(base, ['CMD ["hi"]', 'ENTRYPOINT ["/bin/echo"]']), { Cmd: ["hi"], Entrypoint: ["/bin/echo"] });
    assert.deepEqual(applyChanges(base, ['ENTRYPOINT ["/bin/echo"]', 'CMD ["hi"]']), { Cmd: ["hi"], Entrypoint: ["/bin/echo"] });
  });

  it("refuses what commit does not take, named as the parser names it", () => {
    assert.throws(() => applyChanges({}, ["BOGUS x"]), /^InvalidArgumentError: bogus is not a valid change command$|bogus is not a valid change command/);
    assert.throws(() => applyChanges({}, ["RUN true"]), /run is not a valid change command/);
  });
});

describe("applyChanges through the builder's steps", () => {
  it("expands words against the config's own Env, as the builder does", () => {
    const out = applyChanges({ Env: ["BASE=/srv"] }, ["ENV APP=$BASE/app", "WORKDIR ${APP}", "WORKDIR sub/", 'LABEL "a b"="c d"', "USER ${NOPE:-nobody}"]);
    assert.deepEqual(out.Env, ["BASE=/srv", "APP=/srv/app"]);
    assert.equal(out.WorkingDir, "/srv/app/sub");
    assert.deepEqual(out.Labels, { "a b": "c d" });
    assert.equal(out.User, "nobody");
  });

  it("takes the legacy ENV form, port ranges, JSON volumes and shell-form commands", () => {
    const out = applyChanges({}, ["ENV GREETING hello world", "EXPOSE 80 8000-8001/udp", 'VOLUME ["/data", "/logs"]', "CMD echo $HOME", "STOPSIGNAL SIGTERM"]);
    assert.deepEqual(out.Env, ["GREETING=hello world"]);
    assert.deepEqual(Object.keys(out.ExposedPorts ?? {}), ["80/tcp", "8000/udp", "8001/udp"]);
    assert.deepEqual(Object.keys(out.Volumes ?? {}), ["/data", "/logs"]);
    assert.deepEqual(out.Cmd, ["/bin/sh", "-c", "echo $HOME"]);
    assert.equal(out.StopSignal, "SIGTERM");
  });

  it("reads HEALTHCHECK's flags and refuses bad values", () => {
    const out = applyChanges({}, ["HEALTHCHECK --interval=5s --retries=2 CMD wget -q localhost"]);
    assert.deepEqual(out.Healthcheck, { Test: ["CMD-SHELL", "wget -q localhost"], Interval: 5e9, Retries: 2 });
    assert.deepEqual(applyChanges(out, ["HEALTHCHECK NONE"]).Healthcheck, { Test: ["NONE"] });
    assert.throws(() => applyChanges({}, ["STOPSIGNAL SIGNOPE"]), /Invalid signal: SIGNOPE/);
    assert.throws(() => applyChanges({}, ["USER --x=1 root"]), /Unknown flag: x/);
    assert.throws(() => applyChanges({}, ["SHELL [\"/bin/bash\", \"-c\"]"]), /shell is not a valid change command/);
  });

  it("leaves the config it was given alone", () => {
    const base = { Env: ["A=1"], Labels: { x: "y" } };
    applyChanges(base, ["ENV A=2", "LABEL x=z"]);
    assert.deepEqual(base, { Env: ["A=1"], Labels: { x: "y" } });
  });
});
