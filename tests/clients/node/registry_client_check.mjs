#!/usr/bin/env node
// @kafkajs/confluent-schema-registry against a Confluent-compatible registry:
// register an Avro, a JSON Schema and a Protobuf schema, then encode and decode against each.
// Usage: node registry_client_check.mjs REGISTRY_URL   (npm install @kafkajs/confluent-schema-registry)
// Exits non-zero on the first failed assertion.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import pkg from '@kafkajs/confluent-schema-registry'

const { SchemaRegistry, SchemaType } = pkg
const url = process.argv[2]
if (!url) {
  console.error('usage: registry_client_check.mjs REGISTRY_URL')
  process.exit(2)
}
const run = randomBytes(4).toString('hex')
const registry = new SchemaRegistry({ host: url })

async function roundTrip(label, schema, subject, payload) {
  const { id } = await registry.register(schema, { subject })
  assert.ok(Number.isInteger(id) && id > 0, `${label}: register returns an id`)
  const again = await registry.register(schema, { subject })
  assert.equal(again.id, id, `${label}: re-register returns the same id`)
  assert.equal(await registry.getLatestSchemaId(subject), id, `${label}: latest id`)
  const encoded = await registry.encode(id, payload)
  assert.equal(encoded[0], 0, `${label}: magic byte`)
  assert.equal(encoded.readInt32BE(1), id, `${label}: schema id in the frame`)
  // A fresh client decodes, so the writer schema is fetched from the registry by id.
  const decoded = await new SchemaRegistry({ host: url }).decode(encoded)
  assert.deepEqual(JSON.parse(JSON.stringify(decoded)), payload, `${label}: round trip`)
  console.log(`ok: ${label} register (id ${id}), encode, decode`)
}

await roundTrip('avro', {
  type: SchemaType.AVRO,
  schema: JSON.stringify({
    type: 'record', name: 'Order', namespace: `shop${run}`,
    fields: [{ name: 'id', type: 'long' }, { name: 'item', type: 'string' }],
  }),
}, `node-${run}-avro-value`, { id: 42, item: 'tea' })

await roundTrip('json', {
  type: SchemaType.JSON,
  schema: JSON.stringify({
    $schema: 'http://json-schema.org/draft-07/schema#', title: 'Order', type: 'object',
    properties: { id: { type: 'integer' }, item: { type: 'string' } }, required: ['id'],
  }),
}, `node-${run}-json-value`, { id: 7, item: 'milk' })

await roundTrip('protobuf', {
  type: SchemaType.PROTOBUF,
  schema: `syntax = "proto3";\npackage shop${run};\n\nmessage Order {\n  int32 id = 1;\n  string item = 2;\n}\n`,
}, `node-${run}-proto-value`, { id: 9, item: 'bread' })

// An incompatible registration is refused with the registry's 409.
const subject = `node-${run}-avro-value`
await assert.rejects(
  registry.register({
    type: SchemaType.AVRO,
    schema: JSON.stringify({
      type: 'record', name: 'Order', namespace: `shop${run}`,
      fields: [{ name: 'id', type: 'long' }, { name: 'item', type: 'string' }, { name: 'p', type: 'int' }],
    }),
  }, { subject }),
  (e) => e.status === 409 || /409|incompatible/i.test(String(e.message)),
  'incompatible registration is refused',
)
console.log('ok: incompatible registration refused')
console.log('all node client checks passed')
