#!/usr/bin/env node
// @kafkajs/confluent-schema-registry against a secured `schemagate registry` (TLS, basic auth,
// bearer JWTs, the "writes from CI only" permissions of examples/registry-permissions.toml).
// Usage: node registry_security_check.js REGISTRY_URL CA_FILE WRONG_CA_FILE
// Environment: SG_CI_USER_INFO, SG_SVC_USER_INFO (user:password), SG_CI_TOKEN (a JWT naming
// ci-pipeline), SG_RUN (keeps subjects apart). Exits non-zero on the first failed assertion.
const assert = require('node:assert/strict')
const fs = require('node:fs')
const https = require('node:https')
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry')

const [url, caFile, wrongCaFile] = process.argv.slice(2)
if (!wrongCaFile) {
  console.error('usage: registry_security_check.js REGISTRY_URL CA_FILE WRONG_CA_FILE')
  process.exit(2)
}
const run = process.env.SG_RUN
const subject = `orders-${run}-node-value`
const agent = (file) => new https.Agent({ ca: fs.readFileSync(file) })
const userInfo = (v) => { const i = v.indexOf(':'); return { username: v.slice(0, i), password: v.slice(i + 1) } }
const noRetry = { retries: 0 }
const basic = (info, ca = caFile) => new SchemaRegistry({ host: url, auth: userInfo(info), agent: agent(ca), retry: noRetry })
// The client has no bearer option: a mappersmith middleware adds the header.
const bearer = (token) => new SchemaRegistry({
  host: url, agent: agent(caFile), retry: noRetry,
  middlewares: [() => ({ request: (req) => req.enhance({ headers: { Authorization: `Bearer ${token}` } }) })],
})
const schema = (fields) => ({
  type: SchemaType.AVRO,
  schema: JSON.stringify({ type: 'record', name: 'Order', namespace: `shop_${run.replace(/[^A-Za-z0-9_]/g, '_')}`, fields }),
})
const V1 = schema([{ name: 'id', type: 'long' }])
const V2 = schema([{ name: 'id', type: 'long' }, { name: 'qty', type: 'int', default: 1 }])

// register() sets the subject's compatibility (PUT /config/{subject}) after a first
// registration unless told not to; that is an ADMIN change, which CI's WRITE does not include.
const opts = { subject, compatibility: undefined }

async function main() {
  const ci = basic(process.env.SG_CI_USER_INFO)
  await assert.rejects(ci.register(V1, { subject: `${subject}-defaults` }),
    (e) => e.status === 403 && /denied operation Admin/.test(e.message),
    'with its default options register() changes the subject config, which needs ADMIN')
  console.log('ok: register() with default options is refused at its PUT /config (ADMIN)')
  const { id } = await ci.register(V1, opts)
  assert.ok(id > 0, 'CI registers')
  console.log(`ok: CI (basic auth) registered ${subject} id ${id}`)

  const svc = basic(process.env.SG_SVC_USER_INFO)
  assert.equal(await svc.getLatestSchemaId(subject), id, 'svc-orders reads the latest id')
  const encoded = await ci.encode(id, { id: 7 })
  assert.deepEqual(JSON.parse(JSON.stringify(await svc.decode(encoded))), { id: 7 }, 'svc-orders decodes')
  console.log('ok: svc-orders reads and decodes')
  await assert.rejects(svc.register(V2, opts), (e) => e.status === 403 && /denied operation Write/.test(e.message),
    'svc-orders registering is refused with 403')
  console.log('ok: svc-orders registering is refused with 403')

  const { id: v2 } = await bearer(process.env.SG_CI_TOKEN).register(V2, opts)
  assert.ok(v2 > id, 'CI registers version 2 with its bearer token')
  console.log(`ok: CI (bearer token) registered version 2, id ${v2}`)
  await assert.rejects(bearer('not-a-jwt').getLatestSchemaId(subject), (e) => e.status === 401, 'a bad token is 401')
  console.log('ok: a bad token is refused with 401')

  await assert.rejects(basic(process.env.SG_CI_USER_INFO, wrongCaFile).getLatestSchemaId(subject),
    (e) => /certificate/i.test(String(e.message) + String(e.code)), 'a client trusting another CA fails')
  console.log('ok: a client trusting another CA fails the handshake')
  console.log('all node registry security checks passed')
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
