#!/usr/bin/env node
// A grpc-js client with its own keepalive time, holding an idle WatchDefects stream open:
// the server's keepalive policy seen from a third-party client (README, "Keepalive").
//   node keepalive_client.js --endpoint HOST:PORT --ca ca.crt --cert me.crt --key me.key \
//        --proto-dir proto --keepalive-ms MS --hold-ms MS --expect survive|goaway
// survive: the stream stays open for --hold-ms while at least 5 keepalive pings are sent and
//   answered, no GOAWAY arrives, and a call on the same channel still works afterwards.
// goaway: the server ends the connection (GOAWAY too_many_pings) within --hold-ms; prints
//   the status the stream ended with, as an application sees it.
// Prints one line per check; exits 0 when all pass, 1 otherwise.
'use strict';

// grpc-js reads its tracers when loaded: count keepalive pings and GOAWAYs from its trace.
process.env.GRPC_TRACE = 'keepalive,transport';
process.env.GRPC_VERBOSITY = 'DEBUG';

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const {parseArgs} = require('./args');


const counts = { pingsSent: 0, pingsAnswered: 0, goaways: 0 };
const goawayLines = [];
grpc.setLogger({
  error: (...parts) => {
    const line = parts.join(' ');
    if (line.includes('Sending ping')) counts.pingsSent++;
    if (line.includes('Received ping response')) counts.pingsAnswered++;
    if (line.includes('connection closed by GOAWAY')) {
      counts.goaways++;
      goawayLines.push(line);
    }
  },
});
grpc.setLogVerbosity(grpc.logVerbosity.DEBUG);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function unary(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: new Date(Date.now() + 10000) }, (error, response) =>
      error ? reject(error) : resolve(response));
  });
}

async function main() {
  const args = parseArgs(process.argv, ['endpoint', 'ca', 'cert', 'key', 'proto-dir',
                                        'keepalive-ms', 'hold-ms', 'expect']);
  const keepaliveMs = Number(args['keepalive-ms']);
  const holdMs = Number(args['hold-ms']);
  const protoDir = path.resolve(args['proto-dir']);
  const definition = protoLoader.loadSync(
      ['plantmesh/system/v1/system_service.proto', 'plantmesh/defect/v1/defect_service.proto'],
      { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true,
        includeDirs: [protoDir] });
  const loaded = grpc.loadPackageDefinition(definition);
  const credentials = grpc.credentials.createSsl(
      fs.readFileSync(args.ca), fs.readFileSync(args.key), fs.readFileSync(args.cert));
  // One connection for both stubs (a channel of its own, not shared with other clients).
  const channelOptions = {
    'grpc.keepalive_time_ms': keepaliveMs,
    'grpc.keepalive_timeout_ms': 5000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.use_local_subchannel_pool': 1,
  };
  const channel = new grpc.Channel(args.endpoint, credentials, channelOptions);
  const system = new loaded.plantmesh.system.v1.SystemService(
      args.endpoint, credentials, { channelOverride: channel });
  const defects = new loaded.plantmesh.defect.v1.DefectService(
      args.endpoint, credentials, { channelOverride: channel });

  let failures = 0;
  const check = (ok, what) => {
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
    if (!ok) failures++;
  };

  await unary(system, 'WhoAmI', {});
  // No cursor and nobody writing: a stream that carries no data, only pings.
  const watch = defects.WatchDefects({});
  let ended = null;
  watch.on('data', () => {});
  watch.on('error', (error) => { ended = ended || { code: error.code, details: error.details }; });
  watch.on('end', () => { ended = ended || { code: 0, details: 'stream ended' }; });

  const started = Date.now();
  if (args.expect === 'survive') {
    // Until the hold time has passed and 5 pings were answered; polled, with a deadline.
    const deadline = started + holdMs + 20000;
    while (ended === null && Date.now() < deadline &&
           (Date.now() - started < holdMs || counts.pingsAnswered < 5)) {
      await sleep(200);
    }
    const heldMs = Date.now() - started;
    check(ended === null, `stream still open after ${heldMs} ms with keepalive ${keepaliveMs} ms` +
          (ended ? ` (ended: code ${ended.code} ${ended.details})` : ''));
    check(heldMs >= holdMs, `held for at least ${holdMs} ms`);
    check(counts.pingsAnswered >= 5,
          `keepalive pings sent ${counts.pingsSent}, answered ${counts.pingsAnswered} (>= 5)`);
    check(counts.goaways === 0, `no GOAWAY received ${goawayLines.join('; ')}`);
    const me = await unary(system, 'WhoAmI', {}).catch((error) => ({ error }));
    check(!me.error, `a call on the same channel afterwards: ${me.error ? me.error.message : 'OK'}`);
  } else {
    const deadline = started + holdMs;
    while (ended === null && Date.now() < deadline) await sleep(100);
    check(ended !== null,
          `stream ended after ${Date.now() - started} ms with keepalive ${keepaliveMs} ms` +
          (ended ? `: code ${ended.code} (${grpc.status[ended.code]}) "${ended.details}"` : ''));
    check(counts.goaways > 0, `GOAWAY received: ${goawayLines.join('; ')}`);
    check(goawayLines.some((line) => line.includes('too_many_pings')), 'its data: too_many_pings');
  }
  watch.cancel();
  channel.close();
  return failures;
}

main().then((failures) => process.exit(failures === 0 ? 0 : 1), (error) => {
  console.log(`FAIL ${error.stack || error}`);
  process.exit(1);
});
