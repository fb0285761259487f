#!/usr/bin/env node
// A third-party client of PlantMesh in Node.js: @grpc/grpc-js with the .proto files
// loaded at run time by @grpc/proto-loader, mutual TLS, and rich errors decoded from
// the standard `grpc-status-details-bin` trailer (google.rpc.Status-compatible).
//   node defect_client.js --endpoint HOST:PORT --ca ca.crt --cert me.crt --key me.key \
//        --proto-dir proto [--expect-identity ID]
// Prints one line per check; exits 0 when all pass, 1 otherwise.
'use strict';

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

function parseArgs(argv) {
  const args = {};
  for (let i = 2; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || i + 1 >= argv.length) {
      throw new Error(`bad argument ${argv[i]}`);
    }
    args[argv[i].slice(2)] = argv[i + 1];
  }
  for (const required of ['endpoint', 'ca', 'cert', 'key', 'proto-dir']) {
    if (!args[required]) throw new Error(`--${required} is required`);
  }
  return args;
}

function unary(client, method, request) {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + 10000);
    client[method](request, { deadline }, (error, response) =>
      error ? reject(error) : resolve(response));
  });
}

async function main() {
  const args = parseArgs(process.argv);
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
  const system = new loaded.plantmesh.system.v1.SystemService(args.endpoint, credentials);
  const defects = new loaded.plantmesh.defect.v1.DefectService(args.endpoint, credentials);

  let failures = 0;
  const check = (ok, what) => {
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
    if (!ok) failures++;
  };

  const me = await unary(system, 'WhoAmI', {});
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
