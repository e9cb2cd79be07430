// Records tests/data/har/chromium-recorded.har: a real headless Chromium (Debian's package)
// driven by playwright-core, recording a HAR of its own requests to examples/shop.
//   node record_chromium.js http://127.0.0.1:PORT OUT.har
// Run by record_chromium.sh, which starts the shop; the HAR is committed as a test fixture.
const { chromium } = require('playwright-core');

(async () => {
  const [base, out] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const context = await browser.newContext({ recordHar: { path: out, content: 'embed' } });
  const page = await context.newPage();
  await page.goto(base + '/healthz');
  await page.evaluate(async (base) => {
    const login = await fetch(base + '/api/login', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: 'nobody@example.invalid', password: 'wrong' }),
    });
    await login.text();
    const users = await (await fetch(base + '/api/users?limit=1&offset=0')).json();
    const first = users.users ? users.users[0] : users[0];
    const ok = await fetch(base + '/api/login', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: first.email, password: 'secret-' + first.id }),
    });
    const { token, user_id } = await ok.json();
    await (await fetch(base + '/api/users/' + user_id,
                       { headers: { Authorization: 'Bearer ' + token } })).text();
    await (await fetch(base + '/api/search?q=widget&limit=2')).text();
    await (await fetch(base + '/static/logo.png')).arrayBuffer();
    await (await fetch(base + '/no/such/path')).text();
  }, base);
  await context.close();
  await browser.close();
})().catch((e) => { console.error(e.message); process.exit(1); });
