// The public dashboard in a real browser: `fundledger serve` on the demo ledger, Debian's
// chromium driven headless through playwright-core (never a downloaded browser). A reader
// chooses a region, then a project; every figure the page shows must be the API's, in Chinese
// and in English, and the charts must be drawn. A screenshot is saved for people to look at.
//
// Run by ctest (tests/CMakeLists.txt) with FL_BINARY (the fundledger binary) and
// FL_SCREENSHOT (where to save the picture); node's own test runner reports.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const binary = process.env.FL_BINARY;
const screenshot = process.env.FL_SCREENSHOT || join(tmpdir(), 'fundledger-dashboard.png');
const chromiumPath = '/usr/bin/chromium';

let dir, server, base, browser, page;

// Integer fen as the page writes yuan, computed here on its own (string arithmetic).
function yuan(fen) {
  const digits = String(Math.abs(fen)).padStart(3, '0');
  const whole = digits.slice(0, -2).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return (fen < 0 ? '-' : '') + whole + '.' + digits.slice(-2);
}
function percent(bp) {
  if (bp === null) return '—';
  const digits = String(Math.abs(bp)).padStart(3, '0');
  return (bp < 0 ? '-' : '') + digits.slice(0, -2) + '.' + digits.slice(-2) + '%';
}

async function api(path) {
  const response = await fetch(base + path);
  assert.equal(response.status, 200, path);
  return response.json();
}

function startServer() {
  return new Promise((resolve, reject) => {
    server = spawn(binary, ['serve', '--data', join(dir, 'ledger'), '--listen', '127.0.0.1:0',
      '--threads', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error('serve did not start: ' + out)), 30000);
    const read = (chunk) => {
      out += chunk;
      const match = out.match(/on (http:\/\/127\.0\.0\.1:\d+)/);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    server.stdout.on('data', read);
    server.stderr.on('data', read);
    server.on('exit', (code) => reject(new Error('serve exited ' + code + ': ' + out)));
  });
}

before(async () => {
  assert.ok(binary, 'FL_BINARY names the fundledger binary');
  dir = mkdtempSync(join(tmpdir(), 'fundledger-browser-'));
  execFileSync(binary, ['demo', '--data', join(dir, 'ledger'), '--seed', '1'], { stdio: 'ignore' });
  execFileSync(binary, ['checkpoint', '--data', join(dir, 'ledger')], { stdio: 'ignore' });
  base = await startServer();
  browser = await chromium.launch({
    executablePath: chromiumPath, headless: true, args: ['--no-sandbox', '--disable-gpu'],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('pageerror', (e) => assert.fail('page error: ' + e.message));
});

after(async () => {
  if (browser) await browser.close();
  if (server && server.exitCode === null) {
    const stopped = new Promise((resolve) => server.on('exit', resolve));
    server.kill('SIGTERM');
    await stopped;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function waitForScope(scope) {
  await page.waitForSelector(`body[data-loaded="true"][data-scope="${scope}"]`, { timeout: 30000 });
}

const text = (testId) => page.getByTestId(testId).textContent();
const data = (testId, name) => page.getByTestId(testId).getAttribute('data-' + name);

// The rows of a figures table as [data-key or data-category, data-fen, visible cells].
async function rows(testId) {
  return page.getByTestId(testId).locator('tbody tr').evaluateAll((trs) => trs.map((tr) => ({
    key: tr.dataset.key ?? tr.dataset.category, fen: Number(tr.dataset.fen),
    cells: [...tr.children].map((td) => td.textContent),
  })));
}

// Every figure on the page against the API's summary of the same scope.
async function expectFigures(summary, unit) {
  assert.equal(Number(await data('money-in', 'fen')), summary.money_in.total_fen);
  assert.equal(await text('money-in'), yuan(summary.money_in.total_fen) + unit);
  assert.equal(Number(await data('disbursed', 'fen')), summary.disbursements.total_fen);
  assert.equal(await text('disbursed'), yuan(summary.disbursements.total_fen) + unit);
  assert.equal(await text('payment-count'), String(summary.disbursements.count));
  for (const [id, bp] of [['allocation-rate', summary.progress.allocation_rate_bp],
    ['payment-rate', summary.progress.payment_rate_bp]]) {
    assert.equal(await data(id, 'bp'), bp === null ? '' : String(bp), id);
    assert.equal(await text(id), percent(bp), id);
  }
  const sources = Object.entries(summary.money_in.by_category).filter(([, fen]) => fen !== 0);
  const shown = await rows('sources');
  assert.deepEqual(shown.map((r) => [r.key, r.fen]), sources);
  assert.deepEqual(shown.map((r) => r.cells[1]), sources.map(([, fen]) => yuan(fen)));
  for (const [testId, totals] of [['by-work', summary.disbursements.by_work],
    ['by-payee', summary.disbursements.by_payee]]) {
    const r = await rows(testId);
    assert.deepEqual(r.map((x) => [x.key, x.fen]), totals.map((t) => [t.key, t.amount_fen]));
    assert.deepEqual(r.map((x) => x.cells.slice(1)),
      totals.map((t) => [yuan(t.amount_fen), percent(t.share_bp)]));
  }
  assert.equal(Number(await data('flag-count', 'count')), summary.flags.length);
  assert.equal(await page.getByTestId('flags').locator('tbody tr').count(), summary.flags.length);
  assert.equal(await text('cp-size'), String(summary.checkpoint.size));
  assert.equal(await text('cp-root'), summary.checkpoint.root);
  assert.equal(await text('cp-note'), summary.checkpoint.note);
}

test('a reader chooses a region, then a project, and sees the API\'s figures', async () => {
  const started = Date.now();
  const { projects, checkpoint } = await api('/v1/public/projects');
  assert.ok(projects.length >= 50, 'the demo ledger has its projects');
  await page.goto(base + '/');
  await waitForScope('region:');
  // The whole ledger first, tied to the latest checkpoint.
  const all = await api('/v1/public/summary?region=');
  assert.equal(all.checkpoint.size, checkpoint.size);
  await expectFigures(all, ' 元');
  assert.ok(await page.evaluate(() => typeof echarts !== 'undefined'), 'ECharts is served');
  assert.ok(await page.locator('#chart-sources canvas').count() > 0, 'the sources chart is drawn');

  // A project of Fuzhou with household receipts, flags and payments to several payees.
  const project = projects.find((p) => p.id === 'gulou-2019-0002') ||
    projects.find((p) => p.region.startsWith('fujian/'));
  const region = project.region.split('/').slice(0, 2).join('/');
  await page.getByTestId('region').selectOption(region);
  await waitForScope('region:' + region);
  await expectFigures(await api('/v1/public/summary?region=' + encodeURIComponent(region)), ' 元');
  await page.getByTestId('project').selectOption(project.id);
  await waitForScope('project:' + project.id);
  const summary = await api('/v1/public/summary?project=' + encodeURIComponent(project.id));
  assert.ok(summary.disbursements.count > 0 && summary.flags.length > 0);
  await expectFigures(summary, ' 元');
  assert.match(await text('scope-title'), new RegExp(project.id));
  for (const chart of ['chart-sources', 'chart-work', 'chart-payee']) {
    assert.ok(await page.locator(`#${chart} canvas`).count() > 0, chart + ' is drawn');
  }
  // Downloads of the same scope's bundle.
  const links = await page.getByTestId('downloads').locator('a').evaluateAll(
    (as) => as.map((a) => a.getAttribute('href')));
  assert.equal(links.length, 7);
  const funding = await fetch(base + links.find((l) => l.includes('funding.csv')));
  assert.equal(funding.status, 200);
  const bytes = Buffer.from(await funding.arrayBuffer());
  assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'funding.csv starts with a BOM');
  assert.ok(bytes.subarray(3).toString('utf8').startsWith('项目编号 project'));
  await page.screenshot({ path: screenshot, fullPage: true });

  // English labels, the same figures.
  await page.getByTestId('lang').click();
  assert.equal(await page.locator('h2[data-i18n="progress"]').textContent(), 'Progress');
  await expectFigures(summary, ' yuan');
  console.log(`dashboard checked in ${Date.now() - started} ms; screenshot ${screenshot}`);
});

// Names and references are written by signers and shown to everyone: the page shows them as
// text, and its Content-Security-Policy (only this server's scripts, no inline ones) stands
// behind that. A summary with markup in a payee's and a project's name is served to a fresh
// page (intercepted, as no rule of the ledger refuses '<' in a name), its tooltips are opened,
// and nothing of it may run or become an element.
test('names with markup are shown as text and nothing of them runs', async () => {
  const response = await fetch(base + '/');
  const csp = response.headers.get('content-security-policy') || '';
  assert.match(csp, /script-src 'self';/, 'the page carries its policy');
  assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
  const hostile = '<img src=x onerror="window.__ran=1"><script>window.__ran=2</script>';
  const fresh = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors = [];
  fresh.on('pageerror', (e) => errors.push(e.message));
  await fresh.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation',
      (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
  });
  await fresh.route('**/v1/public/summary?*', async (route) => {
    const real = await route.fetch();
    const summary = await real.json();
    for (const p of summary.disbursements.by_payee) p.name = hostile + p.name;
    for (const p of summary.projects) p.name = hostile + p.name;
    await route.fulfill({ response: real, json: summary });
  });
  await fresh.goto(base + '/#project=gulou-2019-0002');
  await fresh.waitForSelector('body[data-loaded="true"][data-scope="project:gulou-2019-0002"]',
    { timeout: 30000 });
  const cells = await fresh.getByTestId('by-payee').locator('tbody tr td:first-child')
    .allTextContents();
  assert.ok(cells.length > 0 && cells.every((c) => c.startsWith(hostile)), 'shown as text');
  assert.match(await fresh.getByTestId('scope-title').textContent(), /<script>/);
  // The payee chart's tooltip and axis labels hold the names too.
  const chart = fresh.locator('#chart-payee');
  const box = await chart.boundingBox();
  for (let y = 0.2; y < 0.9; y += 0.2) {
    await fresh.mouse.move(box.x + box.width * 0.5, box.y + box.height * y);
    await fresh.waitForTimeout(100);
  }
  assert.equal(await fresh.evaluate(() => window.__ran), undefined, 'no markup ran');
  assert.equal(await fresh.locator('img[src="x"]').count(), 0, 'no markup became an element');
  assert.deepEqual(await fresh.evaluate(() => window.__violations), [],
    'nothing of the page breaks its own policy');
  assert.deepEqual(errors, []);
  await fresh.close();
});
