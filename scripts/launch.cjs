// Starts one of hako's bundles (dist/<name>.cjs) with V8's code cache
// (dist/<name>.cjs.cache, written by the build, scripts/build.mjs):
// compiling a 400 kB bundle is a third of a short command's start-up. A
// cache V8 rejects (another node version) only costs that time back.
"use strict";
// The sh line of bin/hako and bin/hakod (and of the installed launchers)
// puts NODE_EXTRA_CA_CERTS aside while node starts (see there): back it
// goes, before the program reads process.env or starts another (anything
// given `-e NODE_EXTRA_CA_CERTS`); hakod's HTTPS reads the file itself.
// Required without a call (bin/hakod), this is all it does.
if (process.env._HAKO_NODE_EXTRA_CA_CERTS !== undefined) {
  process.env.NODE_EXTRA_CA_CERTS = process.env._HAKO_NODE_EXTRA_CA_CERTS;
  delete process.env._HAKO_NODE_EXTRA_CA_CERTS;
}
const fs = require("fs");
const path = require("path");
const vm = require("vm");
// The CommonJS loader's Module, without loading the public "module"
// builtin (which brings the ESM loader and source maps along).
const Module = module.constructor;

module.exports = function launch(name) {
  const filename = path.join(__dirname, `${name}.cjs`);
  const cacheFile = `${filename}.cache`;
  const source = fs.readFileSync(filename, "utf8");
  let cachedData;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  // The build compiles the same wrapped source under the same name.
  const script = new vm.Script(Module.wrap(source), { filename, cachedData });
  const mod = new Module(filename, module);
  mod.filename = filename;
  mod.paths = Module._nodeModulePaths(__dirname);
  process.mainModule = mod;
  const wrapper = script.runInThisContext({ displayErrors: true });
  wrapper.call(mod.exports, mod.exports, Module.createRequire(filename), mod, filename, __dirname);
  mod.loaded = true;
};
