// Runs a WASI preview 1 command module under Node's built-in WASI: stdin, stdout and stderr
// are the process's, nothing else is given (no files, no environment). Used to check that
// the mltrain-guest module's ABI (docs/wasm.md) works on a second runtime:
//     node scripts/wasi-run.mjs target/wasm/mltrain-guest.wasm < call > reply
import { readFileSync } from 'node:fs';
import { WASI } from 'node:wasi';

const [modulePath] = process.argv.slice(2);
if (!modulePath) {
    console.error('usage: node scripts/wasi-run.mjs MODULE.wasm < call > reply');
    process.exit(2);
}
// Node prints an ExperimentalWarning for node:wasi on stderr; it is not the module's.
process.removeAllListeners('warning');
const wasi = new WASI({ version: 'preview1', args: ['mltrain-guest'], env: {}, preopens: {} });
const module = await WebAssembly.compile(readFileSync(modulePath));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
