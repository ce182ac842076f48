// jsforce 3 against a running crmsandbox: the calls an integration makes first.
// Usage: node jsforce_smoke.cjs <instance_url> <access_token>   (NODE_EXTRA_CA_CERTS = the sandbox CA)
// Prints one JSON object with what each call returned; exits 1 on the first failure.
const jsforce = require("jsforce");

async function main() {
  const [instanceUrl, accessToken] = process.argv.slice(2);
  const conn = new jsforce.Connection({ instanceUrl, accessToken, version: "59.0" });
  const out = {};
  const ident = await conn.identity();
  out.identity = { user_id: ident.user_id, organization_id: ident.organization_id, username: ident.username, display_name: ident.display_name };
  const grouped = await conn.query(
    "SELECT LeadSource src, COUNT(Id) cnt FROM Lead GROUP BY LeadSource HAVING COUNT(Id) > 0 ORDER BY COUNT(Id) DESC",
  );
  out.grouped = grouped.records.map((r) => [r.src, r.cnt]);
  const limits = await conn.limits();
  out.limits = Object.keys(limits).includes("DailyApiRequests");
  const describe = await conn.sobject("Contact").describe();
  out.describe = { name: describe.name, fields: describe.fields.length };
  const created = await conn.sobject("Contact").create({ LastName: "Smoke", Email: "smoke@example.com" });
  out.created = created.success;
  await conn.sobject("Contact").update({ Id: created.id, FirstName: "Jay" });
  const got = await conn.sobject("Contact").retrieve(created.id);
  out.retrieved = got.FirstName;
  const all = await conn.query("SELECT Id FROM Contact").run({ autoFetch: true, maxFetch: 100000 });
  out.contacts = all.totalSize;
  out.fetched = all.records.length;
  await conn.sobject("Contact").destroy(created.id);
  const bulk = await conn.bulk2.query("SELECT Id, Email FROM Contact");
  let n = 0;
  for await (const _rec of bulk) n += 1;
  out.bulk2 = n;
  let refused = null;
  try {
    await conn.query("SELECT Id, Nope FROM Contact");
  } catch (e) {
    refused = { errorCode: e.errorCode, message: e.message };
  }
  out.refused = refused;
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((e) => {
  process.stderr.write(`jsforce smoke failed: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
