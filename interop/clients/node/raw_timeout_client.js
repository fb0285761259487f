#!/usr/bin/env node
// Calls SystemService.WhoAmI over raw HTTP/2 (node's http2, no gRPC library) with a
// grpc-timeout header of each value given, as clients of other gRPC libraries send it:
// grpc-go sends `2562047H` for any deadline 292 years away or more ("no deadline").
// Expects every call to succeed (grpc-status 0): a deadline that far is none.
//   node raw_timeout_client.js --endpoint HOST:PORT --ca ca.crt --cert me.crt --key me.key \
//        --timeouts 1H,2070000H,2562047H,99999999H
// Prints one line per call; exits 0 when all succeed, 1 otherwise.
'use strict';

const fs = require('fs');
const http2 = require('http2');
const {parseArgs} = require('./args');


const args = parseArgs(process.argv, ['endpoint', 'ca', 'cert', 'key', 'timeouts']);
const client = http2.connect(`https://${args.endpoint}`, {
  ca: fs.readFileSync(args.ca),
  cert: fs.readFileSync(args.cert),
  key: fs.readFileSync(args.key),
  checkServerIdentity: () => undefined,  // the dev certificate names localhost
});
client.on('error', (error) => {
  console.log(`FAIL connection: ${error.message}`);
  process.exit(1);
});
// An empty WhoAmIRequest in gRPC's framing: not compressed, length 0.
const body = Buffer.alloc(5);
const timeouts = args.timeouts.split(',');
let pending = timeouts.length;
let failed = false;
for (const timeout of timeouts) {
  const request = client.request({
    ':method': 'POST',
    ':path': '/plantmesh.system.v1.SystemService/WhoAmI',
    'content-type': 'application/grpc',
    'te': 'trailers',
    'grpc-timeout': timeout,
  });
  let status = null;
  let message = '';
  const take = (headers) => {
    if (headers['grpc-status'] !== undefined) {
      status = headers['grpc-status'];
      message = decodeURIComponent(headers['grpc-message'] || '');
    }
  };
  request.on('response', take);
  request.on('trailers', take);
  request.on('data', () => {});
  request.on('end', () => {
    const ok = status === '0';
    failed = failed || !ok;
    console.log(`${ok ? 'ok  ' : 'FAIL'} grpc-timeout ${timeout}: grpc-status ${status} ${message}`);
    if (--pending === 0) {
      client.close();
      process.exitCode = failed ? 1 : 0;
    }
  });
  request.end(body);
}
