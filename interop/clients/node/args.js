// The command line of the Node.js interop clients: `--name value` pairs, each client
// naming the ones it requires. Throws on a stray argument or a missing required one.
'use strict';

function parseArgs(argv, required) {
  const args = {};
  for (let i = 2; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || i + 1 >= argv.length) {
      throw new Error(`bad argument ${argv[i]}`);
    }
    args[argv[i].slice(2)] = argv[i + 1];
  }
  for (const name of required) {
    if (!args[name]) throw new Error(`--${name} is required`);
  }
  return args;
}

module.exports = {parseArgs};
