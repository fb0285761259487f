#!/usr/bin/env node
// A third-party client of PlantMesh in Node.js: @grpc/grpc-js with the .proto files
// loaded at run time by @grpc/proto-loader, mutual TLS, and rich errors decoded from
// the standard `grpc-status-details-bin` trailer (google.rpc.Status-compatible).
//   node defect_client.js --endpoint HOST:PORT --ca ca.crt --cert me.crt --key me.key \
//        --proto-dir proto [--expect-identity ID]
// Prints one line per check; exits 0 when all pass, 1 otherwise.
//
// Riding through a server restart: every call but the first waits for a connection
// within its deadline (Metadata option waitForReady), and the channel retries a lost
// connection after 100 ms, growing to 5 s at most. Without waitForReady a call made
// while the connection is down fails at once with UNAVAILABLE until the backoff ends.
// The first call is made without it, so that a refused certificate or a wrong CA is
// reported at once rather than as DEADLINE_EXCEEDED.
//   --restart-check ENV_FILE --live-server-pid PID: instead of the API checks, call
//   WhoAmI steadily while e2e_live_server restarts the server (SIGUSR1).
'use strict';

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');
const {parseArgs} = require('./args');


// Reconnection backoff suited to a plant network (grpc-js defaults: 1 s growing to 120 s).
const CHANNEL_OPTIONS = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 5000,
};

// A unary call with a deadline; waitForReady: wait for a connection within it.
function unary(client, method, request, { waitForReady = true, timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + timeoutMs);
    const metadata = new grpc.Metadata({ waitForReady });
    client[method](request, metadata, { deadline }, (error, response) =>
      error ? reject(error) : resolve(response));
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// WhoAmI every 10 ms (5 s deadline, waitForReady) while the live server is killed and
// restarted on the same port: the first call after it is back succeeds within 10 s (the
// longest reconnect backoff, 5 s with its 20 % jitter, and a slow handshake), and no
// call fails once that call is answered and 6 s have passed. A 1 s deadline failed
// calls a sanitizer build answered slowly, which is not what this checks.
async function restartCheck(args, system) {
  const restartsFile = `${args['restart-check']}.restarts`;
  await unary(system, 'WhoAmI', {}, { waitForReady: false });
  const calls = [];  // { issued, ok, error }
  let stop = false;
  const steady = (async () => {
    while (!stop) {
      const issued = Date.now();
      try {
        await unary(system, 'WhoAmI', {}, { timeoutMs: 5000 });  // a slow answer is not what this checks
        calls.push({ issued, ok: true });
      } catch (error) {
        calls.push({ issued, ok: false, error: `${error.code} ${error.details}` });
      }
      await sleep(10);  // the pace of the scenario
    }
  })();
  const killed = Date.now();
  process.kill(Number(args['live-server-pid']), 'SIGUSR1');
  while (!fs.existsSync(restartsFile) && Date.now() < killed + 60000) await sleep(20);
  const back = Date.now();
  let failures = 0;
  if (!fs.existsSync(restartsFile)) {
    console.log('FAIL the server was not restarted');
    failures++;
  }
  try {
    await unary(system, 'WhoAmI', {}, { timeoutMs: 10000 });
    console.log('ok   the first call after the restart with a 10 s deadline succeeded');
  } catch (error) {
    console.log(`FAIL the first call after the restart: ${error.code} ${error.details}`);
    failures++;
  }
  const firstDone = Date.now();
  const settled = Math.max(back + 6000, firstDone);  // the longest backoff with its jitter
  while (calls.filter((c) => c.issued >= settled).length < 20 && Date.now() < settled + 60000) {
    await sleep(50);
  }
  stop = true;
  await steady;
  const late = calls.filter((c) => c.issued >= settled && !c.ok);
  if (late.length > 0) {
    console.log(`FAIL ${late.length} calls failed once the restart had settled, e.g. ${late[0].error}`);
    failures++;
  } else {
    console.log('ok   no call failed once the restart had settled');
  }
  const before = calls.filter((c) => c.issued < back && !c.ok).length;
  const after = calls.filter((c) => c.issued >= back && !c.ok).length;
  const firstOk = calls.find((c) => c.issued >= back && c.ok);
  console.log(`     server down ${(back - killed) / 1000} s (kill to healthy); 5 s-deadline ` +
              `call done ${(firstDone - back) / 1000} s after; steady caller: ${before} of ` +
              `${calls.length} calls failed before the server was back, ${after} after; first ` +
              `success issued ${firstOk ? `${(firstOk.issued - back) / 1000} s` : 'never'} after`);
  return failures;
}

async function main() {
  const args = parseArgs(process.argv, ['endpoint', 'ca', 'cert', 'key', 'proto-dir']);
  const protoDir = path.resolve(args['proto-dir']);
  const options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true,
                    includeDirs: [protoDir] };
  const definition = protoLoader.loadSync(
      ['plantmesh/system/v1/system_service.proto', 'plantmesh/defect/v1/defect_service.proto'],
      options);
  const loaded = grpc.loadPackageDefinition(definition);
  // The rich-error messages, for decoding the trailer.
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) =>
      fs.existsSync(path.join(protoDir, target)) ? path.join(protoDir, target) : target;
  root.loadSync('plantmesh/api/v1/error_details.proto', { keepCase: true });
  const Status = root.lookupType('plantmesh.api.v1.Status');
  const BadRequest = root.lookupType('plantmesh.api.v1.BadRequest');

  const credentials = grpc.credentials.createSsl(
      fs.readFileSync(args.ca), fs.readFileSync(args.key), fs.readFileSync(args.cert));
  const system = new loaded.plantmesh.system.v1.SystemService(
      args.endpoint, credentials, CHANNEL_OPTIONS);
  const defects = new loaded.plantmesh.defect.v1.DefectService(
      args.endpoint, credentials, CHANNEL_OPTIONS);
  if (args['restart-check']) {
    const failed = await restartCheck(args, system);
    system.close();
    defects.close();
    return failed === 0 ? 0 : 1;
  }

  let failures = 0;
  const check = (ok, what) => {
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
    if (!ok) failures++;
  };

  // The first call fails fast: a TLS refusal is reported as such, at once.
  const me = await unary(system, 'WhoAmI', {}, { waitForReady: false });
  check(me.identity !== '', `WhoAmI: identity ${me.identity}, roles ${me.roles.join(',')}`);
  if (args['expect-identity']) {
    check(me.identity === args['expect-identity'], 'WhoAmI: expected identity');
  }

  const sample = (vin) => ({
    vin, model: 'SEDAN-2.0', zone: 'PAINT', station: 'P-07', category_code: 'PAINT-SCRATCH',
    severity: 'SEVERITY_MAJOR', description: 'Reported from Node.js', shift: '2026-11-21/A',
  });
  const requestId = crypto.randomUUID();
  const created = (await unary(defects, 'CreateDefect',
                               { defect: sample('VIN-NODE-1'), request_id: requestId })).defect;
  check(created.id !== '' && created.status === 'DEFECT_STATUS_REPORTED',
        `CreateDefect: defect ${created.id} ${created.status}`);
  const again = (await unary(defects, 'CreateDefect',
                             { defect: sample('VIN-NODE-1'), request_id: requestId })).defect;
  check(again.id === created.id, 'CreateDefect retried with the same request_id: same defect');

  try {
    await unary(defects, 'CreateDefect',
                { defect: sample('not a vin!'), request_id: crypto.randomUUID() });
    check(false, 'CreateDefect with a bad VIN was accepted');
  } catch (error) {
    check(error.code === grpc.status.INVALID_ARGUMENT, `bad VIN: code ${error.code} ${error.details}`);
    const trailer = error.metadata ? error.metadata.get('grpc-status-details-bin') : [];
    const violations = [];
    if (trailer.length > 0) {
      const status = Status.decode(trailer[0]);
      for (const detail of status.details) {
        if (detail.type_url === 'type.googleapis.com/google.rpc.BadRequest') {
          for (const v of BadRequest.decode(detail.value).field_violations) {
            violations.push(v.field);
          }
        }
      }
    }
    check(violations.includes('defect.vin'), `bad VIN: field violations ${violations.join(',')}`);
  }
  system.close();
  defects.close();
  return failures === 0 ? 0 : 1;
}

main().then((code) => process.exit(code), (error) => {
  console.error(`defect_client: ${error.stack || error}`);
  process.exit(1);
});
