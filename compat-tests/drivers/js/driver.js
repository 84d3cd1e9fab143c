'use strict';
// The kafkajs driver of Runnel's compat suite.
//
//   node driver.js serve         one JSON command per stdin line, one JSON answer per stdout line
//   node driver.js member JSON   one consumer-group member until SIGTERM (group_member.py's format)
//
// A command is {id, op, bootstrap, config, ...}; the answer {id, ok, result | error, log}, where
// log holds every WARN/ERROR line kafkajs logged during the command. The driver performs
// operations and reports what the client saw; the assertions live in the Python tests.

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

const fs = require('fs');
const readline = require('readline');
const {
  Kafka, logLevel, CompressionTypes, ConfigResourceTypes, AssignerProtocol,
} = require('kafkajs');

let captured = [];

// Every kafkajs log line goes to stderr; WARN and ERROR ones are kept for the answer.
const logCreator = () => ({ namespace, level, label, log }) => {
  const { message, ...extra } = log;
  const line = `${new Date().toISOString()} ${label} [${namespace}] ${message} ${JSON.stringify(extra)}`;
  process.stderr.write(line + '\n');
  if (level === logLevel.WARN || level === logLevel.ERROR) captured.push(line);
};

function kafka(cmd) {
  return new Kafka({
    clientId: 'runnel-compat-kafkajs',
    brokers: cmd.bootstrap.split(","),
    logLevel: logLevel.INFO,
    logCreator,
    retry: { retries: 5 },
  });
}

const b64 = (s) => (s === null || s === undefined ? null : Buffer.from(s, 'base64'));
const enc = (b) => (b === null || b === undefined ? null : Buffer.from(b).toString('base64'));
const cfg = (cmd, key, dflt) => (cmd.config && key in cmd.config ? cmd.config[key] : dflt);

const CODECS = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP };
const ACKS = { all: -1, 1: 1, 0: 0 };

// kafkajs takes headers as an object: a name given more than once becomes an array.
function headersOf(h) {
  const out = {};
  for (const [k, v] of h || []) {
    const val = b64(v);
    if (k in out) out[k] = [].concat(out[k], val);
    else out[k] = val;
  }
  return out;
}

// One send per call: kafkajs answers with each partition's base offset, so a
// record's offset is that base plus its place among the partition's records.
async function produce(cmd) {
  const codec = cfg(cmd, 'compression', 'none');
  if (!(codec in CODECS)) throw new Error(`kafkajs has no built-in codec ${codec}`);
  const idempotent = cfg(cmd, 'idempotent', 'false') === 'true';
  // An idempotent kafkajs producer wants unlimited retries (it warns otherwise).
  const producer = kafka(cmd).producer({
    idempotent,
    maxInFlightRequests: idempotent ? 1 : undefined,
    allowAutoTopicCreation: false,
    retry: idempotent ? { retries: Number.MAX_SAFE_INTEGER, maxRetryTime: 30000 } : undefined,
  });
  await producer.connect();
  try {
    const messages = cmd.records.map((r) => ({
      partition: r.p,
      key: b64(r.k),
      value: b64(r.v),
      headers: headersOf(r.h),
      timestamp: r.ts === null || r.ts === undefined ? undefined : String(r.ts),
    }));
    const acks = ACKS[cfg(cmd, 'acks', 'all')];
    const md = await producer.send({
      topic: cmd.topic, messages, acks, compression: CODECS[codec], timeout: 30000,
    });
    const base = {};
    for (const m of md) base[m.partition] = Number(m.baseOffset);
    const seen = {};
    return cmd.records.map((r) => {
      const i = seen[r.p] || 0;
      seen[r.p] = i + 1;
      return { partition: r.p, offset: acks === 0 ? -1 : base[r.p] + i };
    });
  } finally {
    await producer.disconnect();
  }
}

function record(partition, m) {
  const h = [];
  for (const [k, v] of Object.entries(m.headers || {})) {
    for (const one of [].concat(v)) h.push([k, enc(one === undefined ? Buffer.alloc(0) : one)]);
  }
  return {
    p: partition, o: Number(m.offset), k: enc(m.key), v: enc(m.value), h, ts: Number(m.timestamp),
  };
}

// kafkajs has no assign(): a consumer of a fresh group reads from the start
// (or seeks to cmd.start[p]) and commits nothing.
async function consume(cmd) {
  const consumer = kafka(cmd).consumer({
    groupId: `compat-kafkajs-${process.pid}-${Date.now()}`, allowAutoTopicCreation: false,
    maxWaitTimeInMs: 200,
  });
  const got = {};
  const want = cmd.want;
  for (const p of Object.keys(want)) got[p] = [];
  const enough = () => Object.keys(want).every((p) => got[p].length >= want[p]);
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [cmd.topic], fromBeginning: true });
    let done;
    const finished = new Promise((resolve) => { done = resolve; });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const p = String(batch.partition);
        if (!(p in got)) return;
        for (const m of batch.messages) {
          if (got[p].length < want[p]) got[p].push(record(batch.partition, m));
        }
        if (enough()) done();
      },
    });
    for (const [p, o] of Object.entries(cmd.start || {})) {
      consumer.seek({ topic: cmd.topic, partition: Number(p), offset: String(o) });
    }
    const timeoutMs = (cmd.timeout_s || 120) * 1000;
    let timer;
    const timedOut = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out: got ${JSON.stringify(
        Object.fromEntries(Object.entries(got).map(([k, v]) => [k, v.length])))}`)), timeoutMs);
    });
    try {
      await Promise.race([finished, timedOut]);
    } finally {
      clearTimeout(timer);
    }
    return got;
  } finally {
    await consumer.disconnect();
  }
}

function resourceType(t) {
  return t === 'broker' ? ConfigResourceTypes.BROKER : ConfigResourceTypes.TOPIC;
}

async function adminCall(admin, c) {
  switch (c.call) {
    case 'createTopics': {
      const out = {};
      for (const t of c.topics) {
        try {
          // kafkajs answers false, not an error, when the topic exists already.
          const created = await admin.createTopics({
            validateOnly: !!c.validate_only,
            waitForLeaders: !c.validate_only,
            topics: [{
              topic: t.name,
              numPartitions: t.partitions,
              replicationFactor: t.rf,
              configEntries: Object.entries(t.configs || {}).map(([name, value]) => ({ name, value })),
            }],
          });
          out[t.name] = created || c.validate_only
            ? { ok: true }
            : { ok: false, error: { class: 'TOPIC_ALREADY_EXISTS', message: 'createTopics returned false' } };
        } catch (e) {
          out[t.name] = { ok: false, error: errorOf(e) };
        }
      }
      return out;
    }
    case 'listTopics': {
      const names = await admin.listTopics();
      return { names: names.filter((n) => c.internal || !n.startsWith('__')).sort() };
    }
    case 'describeTopics': {
      const md = await admin.fetchTopicMetadata({ topics: c.names });
      const out = {};
      for (const t of md.topics) {
        out[t.name] = {
          partitions: t.partitions.map((p) => ({
            partition: p.partitionId, leader: p.leader, replicas: p.replicas.length, isr: p.isr.length,
          })).sort((a, b) => a.partition - b.partition),
        };
      }
      return out;
    }
    case 'deleteTopics':
      await admin.deleteTopics({ topics: c.names });
      return null;
    case 'createPartitions':
      await admin.createPartitions({
        topicPartitions: Object.entries(c.counts).map(([topic, count]) => ({ topic, count })),
      });
      return null;
    case 'describeCluster': {
      const d = await admin.describeCluster();
      return {
        cluster_id: d.clusterId,
        controller: { id: d.controller },
        nodes: d.brokers.map((b) => ({ id: b.nodeId, host: b.host, port: b.port })),
      };
    }
    case 'describeConfigs': {
      const d = await admin.describeConfigs({
        includeSynonyms: false,
        resources: c.resources.map((r) => ({ type: resourceType(r.type), name: r.name })),
      });
      const out = {};
      for (const r of d.resources) {
        if (r.errorCode) throw new Error(`describeConfigs ${r.resourceName}: error ${r.errorCode}`);
        const entries = {};
        for (const e of r.configEntries) {
          entries[e.configName] = {
            value: e.configValue, source: e.configSource, read_only: e.readOnly, sensitive: e.isSensitive,
          };
        }
        out[r.resourceName] = entries;
      }
      return out;
    }
    // kafkajs has AlterConfigs only (it replaces a resource's whole dynamic config).
    case 'alterConfigs':
      await admin.alterConfigs({
        validateOnly: !!c.validate_only,
        resources: c.resources.map((r) => ({
          type: resourceType(r.type),
          name: r.name,
          configEntries: r.ops.map((op) => ({ name: op.name, value: op.value })),
        })),
      });
      return null;
    case 'deleteRecords':
      // kafkajs reads the partitions' leaders from metadata it must have loaded.
      await admin.fetchTopicMetadata({ topics: [c.topic] });
      await admin.deleteTopicRecords({
        topic: c.topic,
        partitions: Object.entries(c.offsets).map(([p, o]) => ({ partition: Number(p), offset: String(o) })),
      });
      return null;
    case 'listOffsets': {
      const out = {};
      if (c.spec === 'earliest' || c.spec === 'latest') {
        for (const o of await admin.fetchTopicOffsets(c.topic)) {
          out[o.partition] = { offset: Number(c.spec === 'earliest' ? o.low : o.high), timestamp: -1 };
        }
      } else {
        for (const o of await admin.fetchTopicOffsetsByTimestamp(c.topic, Number(c.spec))) {
          out[o.partition] = { offset: Number(o.offset), timestamp: -1 };
        }
      }
      return out;
    }
    case 'listConsumerGroups': {
      const d = await admin.listGroups();
      return Object.fromEntries(d.groups.map((g) => [g.groupId, { protocol_type: g.protocolType }]));
    }
    case 'describeConsumerGroups': {
      const d = await admin.describeGroups(c.groups);
      const out = {};
      for (const g of d.groups) {
        if (g.errorCode) throw new Error(`describeGroups ${g.groupId}: error ${g.errorCode}`);
        out[g.groupId] = {
          state: g.state,
          protocol: g.protocol,
          members: g.members.map((m) => {
            const a = m.memberAssignment.length ? AssignerProtocol.MemberAssignment.decode(m.memberAssignment) : null;
            return {
              client_id: m.clientId,
              partitions: a ? Object.values(a.assignment).flat() : [],
            };
          }),
        };
      }
      return out;
    }
    case 'deleteConsumerGroups':
      await admin.deleteGroups(c.groups);
      return null;
    case 'listConsumerGroupOffsets': {
      const topics = (await admin.listTopics()).filter((n) => !n.startsWith('__'));
      const d = await admin.fetchOffsets({ groupId: c.group, topics });
      const out = {};
      for (const t of d) {
        for (const p of t.partitions) {
          if (Number(p.offset) >= 0) out[`${t.topic}:${p.partition}`] = { offset: Number(p.offset), metadata: p.metadata };
        }
      }
      return out;
    }
    case 'alterConsumerGroupOffsets':
      await admin.setOffsets({
        groupId: c.group,
        topic: c.topic,
        partitions: Object.entries(c.offsets).map(([p, o]) => ({ partition: Number(p), offset: String(o) })),
      });
      return null;
    default:
      throw new Error(`unknown admin call ${c.call}`);
  }
}

async function adminOp(cmd) {
  const admin = kafka(cmd).admin();
  await admin.connect();
  try {
    const out = [];
    for (const c of cmd.calls) {
      try {
        out.push({ call: c.call, ok: true, result: await adminCall(admin, c) });
      } catch (e) {
        out.push({ call: c.call, ok: false, error: errorOf(e) });
      }
    }
    return out;
  } finally {
    await admin.disconnect();
  }
}

function errorOf(e) {
  return { class: e.type || e.name, message: String(e.message) };
}

async function dispatch(cmd) {
  switch (cmd.op) {
    case 'version':
      return { kafkajs: require('kafkajs/package.json').version };
    case 'produce':
      return produce(cmd);
    case 'consume':
      return consume(cmd);
    case 'admin':
      return adminOp(cmd);
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

async function serve() {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line.trim()) continue;
    const cmd = JSON.parse(line);
    captured = [];
    const reply = { id: cmd.id };
    try {
      reply.result = await dispatch(cmd);
      reply.ok = true;
    } catch (e) {
      reply.ok = false;
      reply.error = errorOf(e);
    }
    reply.log = captured;
    captured = [];
    process.stdout.write(JSON.stringify(reply) + '\n');
  }
}

// A group member: each record committed, then written; kafkajs groups are
// eager (every join hands out a whole assignment), classic protocol only.
async function member(args) {
  const out = fs.openSync(args.out, 'a');
  const write = (s) => fs.writeSync(out, s + '\n');
  write('started');
  const session = Number(cfg(args, 'session_ms', '6000'));
  const consumer = kafka(args).consumer({
    groupId: args.group, sessionTimeout: session, heartbeatInterval: 500, maxWaitTimeInMs: 200,
    rebalanceTimeout: 30000, allowAutoTopicCreation: false,
  });
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    const ps = (e.payload.memberAssignment[args.topic] || []).slice().sort((a, b) => a - b);
    write(`assigned ${ps.join(',')}`);
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await consumer.disconnect();
    write('closed');
    fs.closeSync(out);
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  await consumer.connect();
  await consumer.subscribe({ topics: [args.topic], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ topic, partition, message }) => {
      if (stopping) throw new Error('stopping');
      // A failed commit throws: kafkajs does not move past the record.
      await consumer.commitOffsets([{ topic, partition, offset: String(Number(message.offset) + 1) }]);
      write(`${partition} ${message.offset}`);
    },
  });
}

const mode = process.argv[2] || 'serve';
if (mode === 'serve') {
  serve().catch((e) => { process.stderr.write(`${e.stack}\n`); process.exit(1); });
} else if (mode === 'member') {
  member(JSON.parse(process.argv[3])).catch((e) => { process.stderr.write(`${e.stack}\n`); process.exit(1); });
} else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
