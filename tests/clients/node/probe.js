// node-postgres (pg), as a Node.js BI backend or notebook reads a server: run by tests/test_client_node.py
// against the front door and against PostgreSQL 15, printing one JSON object of what the client received.
//
//     node probe.js PORT USER PASSWORD DATABASE
'use strict';
const pg = require('pg');

const [port, user, password, database] = process.argv.slice(2);
const settings = { host: '127.0.0.1', port: Number(port), user, password, database, ssl: false,
                   connectionTimeoutMillis: 10000 };

function plain(value) {
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value)) return value.toString('hex');
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

function result(r) {
  return { command: r.command, rowCount: r.rowCount, fields: r.fields.map((f) => [f.name, f.dataTypeID]),
           rows: plain(r.rows) };
}

async function failure(promise) {
  try {
    await promise;
    return null;
  } catch (error) {
    return { code: error.code, message: error.message };
  }
}

async function main() {
  const found = {};
  const client = new pg.Client(settings);
  await client.connect();
  // the simple protocol (no parameters) and the extended one (parameters, unnamed and named statements)
  found.simple = result(await client.query(
    "SELECT 1 AS one, 7 / 2 AS half, 2 ^ 10 AS power, 'x'::text AS t, 1.50::numeric(5, 2) AS n, true AS yes"));
  found.parameters = result(await client.query(
    'SELECT id, name, email, created_at FROM customers WHERE id <= $1 ORDER BY id', [3]));
  found.named = [];
  for (const status of ['paid', 'open']) {
    found.named.push(result(await client.query({ name: 'by-status', text:
      'SELECT count(*) AS n, sum(total) AS total, min(created_at) AS first FROM orders WHERE status = $1',
      values: [status] })));
  }
  found.arrays = result(await client.query({ text: "SELECT ARRAY[1, 2, 3] AS a, ARRAY['x', 'y'] AS b, $1::int[] AS c",
                                             values: [[4, 5]], rowMode: 'array' }));
  found.join = result(await client.query(
    'SELECT c.name, count(o.id) AS orders, sum(o.total) AS spent FROM customers c JOIN orders o ' +
    'ON o.customer_id = c.id GROUP BY c.name ORDER BY spent DESC, c.name LIMIT 3'));
  found.catalog = result(await client.query(
    "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' " +
    'ORDER BY table_name, ordinal_position'));
  await client.query("SET TimeZone = 'UTC'");
  found.session = result(await client.query('SHOW TimeZone'));
  found.errors = [await failure(client.query('SELECT * FROM nowhere')),
                  await failure(client.query('SELEC 1')),
                  await failure(client.query('SELECT 1 / $1::int', [0]))];
  found.after = result(await client.query('SELECT 1 AS still'));  // the connection goes on after errors
  await client.end();
  // a pool, several clients at once
  const pool = new pg.Pool({ ...settings, max: 3 });
  const counts = await Promise.all([1, 2, 3, 4, 5, 6].map((n) =>
    pool.query('SELECT count(*) AS n FROM orders WHERE customer_id = $1', [n]).then((r) => r.rows[0].n)));
  found.pool = counts;
  await pool.end();
  process.stdout.write(JSON.stringify(found, null, 1));
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
