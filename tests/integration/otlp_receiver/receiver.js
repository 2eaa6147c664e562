#!/usr/bin/env node
// A test-only OTLP/HTTP trace receiver: an independent decoder for sluice's hand-written
// protobuf encoder. It decodes each POST /v1/traces body (application/x-protobuf) with the
// OpenTelemetry JS project's generated protobuf definitions (@opentelemetry/otlp-transformer)
// and appends one JSON line per span to --out, so the integration tests can check what a real
// collector would see.
//
//   node receiver.js --port P --out FILE [--status 200] [--delay-ms 0]
//
// Prints "listening" once ready. Answers every export with --status (200: an empty
// ExportTraceServiceResponse) after --delay-ms. Each line:
//   {"trace_id", "span_id", "parent_span_id" (hex; "" for none), "name", "kind" (number),
//    "start_ns", "end_ns" (decimal strings: nanoseconds exceed a double's precision),
//    "status_code" (number), "status_message", "attributes": {key: value},
//    "resource": {key: value}}
// Integer attributes become numbers, the rest their natural JSON type.
'use strict';

const fs = require('fs');
const http = require('http');
const root = require('@opentelemetry/otlp-transformer/build/src/generated/root');

const service = root.opentelemetry.proto.collector.trace.v1;

function parseArgs(argv) {
  const opts = { port: 0, out: '', status: 200, delayMs: 0 };
  for (let i = 0; i < argv.length; i++) {
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${argv[i]} needs a value`);
      return argv[++i];
    };
    switch (argv[i]) {
      case '--port': opts.port = Number(next()); break;
      case '--out': opts.out = next(); break;
      case '--status': opts.status = Number(next()); break;
      case '--delay-ms': opts.delayMs = Number(next()); break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (!opts.out) throw new Error('--out FILE is required');
  return opts;
}

const hex = (b64) => Buffer.from(b64 || '', 'base64').toString('hex');

function anyValue(v) {
  if (!v) return null;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.bytesValue !== undefined) return hex(v.bytesValue);
  if (v.arrayValue !== undefined) return (v.arrayValue.values || []).map(anyValue);
  if (v.kvlistValue !== undefined) return attributeMap(v.kvlistValue.values);
  return null;
}

function attributeMap(kvs) {
  const out = {};
  for (const kv of kvs || []) out[kv.key] = anyValue(kv.value);
  return out;
}

// One JSON line per span of a decoded ExportTraceServiceRequest.
function spanLines(body) {
  const msg = service.ExportTraceServiceRequest.decode(body);
  const obj = service.ExportTraceServiceRequest.toObject(msg, {
    longs: String, enums: Number, bytes: String, defaults: false, oneofs: false,
  });
  const lines = [];
  for (const rs of obj.resourceSpans || []) {
    const resource = attributeMap(rs.resource && rs.resource.attributes);
    for (const ss of rs.scopeSpans || []) {
      for (const s of ss.spans || []) {
        lines.push(JSON.stringify({
          trace_id: hex(s.traceId),
          span_id: hex(s.spanId),
          parent_span_id: hex(s.parentSpanId),
          name: s.name || '',
          kind: s.kind || 0,
          start_ns: String(s.startTimeUnixNano || '0'),
          end_ns: String(s.endTimeUnixNano || '0'),
          status_code: (s.status && s.status.code) || 0,
          status_message: (s.status && s.status.message) || '',
          attributes: attributeMap(s.attributes),
          resource,
          scope: { name: (ss.scope && ss.scope.name) || '', version: (ss.scope && ss.scope.version) || '' },
        }));
      }
    }
  }
  return lines;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const okBody = Buffer.from(service.ExportTraceServiceResponse.encode({}).finish());

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const reply = (status, body, type) => {
        const send = () => {
          res.writeHead(status, { 'Content-Type': type, 'Content-Length': body.length });
          res.end(body);
        };
        if (opts.delayMs > 0) setTimeout(send, opts.delayMs); else send();
      };
      if (req.method !== 'POST' || req.url.split('?')[0] !== '/v1/traces') {
        return reply(404, Buffer.from('not found\n'), 'text/plain');
      }
      const type = (req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
      if (type !== 'application/x-protobuf') {
        return reply(415, Buffer.from('expected application/x-protobuf\n'), 'text/plain');
      }
      let lines;
      try {
        lines = spanLines(Buffer.concat(chunks));
      } catch (e) {
        process.stderr.write(`receiver: cannot decode the request: ${e.message}\n`);
        return reply(400, Buffer.from(`cannot decode: ${e.message}\n`), 'text/plain');
      }
      // Written before answering, so a test that saw the response finds the spans in the file.
      if (lines.length) fs.appendFileSync(opts.out, lines.join('\n') + '\n');
      if (opts.status === 200) return reply(200, okBody, 'application/x-protobuf');
      return reply(opts.status, Buffer.alloc(0), 'application/x-protobuf');
    });
  });
  server.keepAliveTimeout = 30000;
  server.listen(opts.port, '127.0.0.1', () => {
    process.stdout.write('listening\n');
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
