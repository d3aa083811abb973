// The public dashboard (公示): every figure comes from GET /v1/public/summary, tied to the
// signed checkpoint shown at the bottom. Amounts are integer fen and rates integer basis points
// from the API; they are only formatted here (integer arithmetic, no rounding of money).
'use strict';

const TEXT = {
  zh: {
    title: '城镇老旧小区改造资金公示', region: '地区', project: '项目', moneyIn: '到位资金',
    disbursed: '已支付', payments: '支付笔数', progress: '进度', allocationRate: '分配进度',
    paymentRate: '支出进度', paymentBasis: '已支付 ÷ 到位资金', moneyBySource: '资金来源',
    category: '资金类别', amountYuan: '金额（元）', byWork: '按改造内容支出',
    byPayee: '按收款单位支出', work: '改造内容', payee: '收款单位', share: '占比', flags: '红黄灯',
    flag: '信号', holder: '对象', message: '说明', checkpoint: '数据依据（签名检查点）',
    checkpointHelp: '以上数字均为该检查点时账本所记录事件的结果。下载公示数据包，可用 fundledger verify-export 离线核验。',
    origin: '账本', treeSize: '记录数', root: '根哈希', logKey: '日志公钥', downloads: '下载',
    footer: 'fundledger · 数据均来自签名事件，金额以分为单位精确计算',
    allRegions: '全国（全部地区）', wholeRegion: '（该地区全部项目）', loading: '加载中…',
    failed: '加载失败：', basisPools: '地区内各级财政资金池：已下达 ÷ 到位',
    basisPlan: '项目：到位资金 ÷ 资金筹措计划', projects: '个项目', flagsTotal: '条信号',
    scopeRegion: '地区', scopeProject: '项目', noCharts: '图表库未加载，仅显示表格。',
    lang: 'English',
  },
  en: {
    title: 'Old Residential Compound Renovation Funds', region: 'Region', project: 'Project',
    moneyIn: 'Money in', disbursed: 'Disbursed', payments: 'Payments', progress: 'Progress',
    allocationRate: 'Allocation', paymentRate: 'Payment', paymentBasis: 'disbursed ÷ money in',
    moneyBySource: 'Money in by source', category: 'Category', amountYuan: 'Amount (yuan)',
    byWork: 'Disbursements by work', byPayee: 'Disbursements by payee', work: 'Work',
    payee: 'Payee', share: 'Share', flags: 'Flags', flag: 'Flag', holder: 'Holder',
    message: 'Message', checkpoint: 'Checkpoint the figures are tied to',
    checkpointHelp: 'Every figure above is what the events recorded up to this signed checkpoint add up to. Download the export bundle and check it offline with fundledger verify-export.',
    origin: 'Log', treeSize: 'Tree size', root: 'Root hash', logKey: 'Log key',
    downloads: 'Downloads', footer: 'fundledger · every figure from signed events, exact in fen',
    allRegions: 'All regions', wholeRegion: '(every project of the region)',
    loading: 'Loading…', failed: 'Failed: ',
    basisPools: "the region's finance pools: allocated on ÷ money in",
    basisPlan: 'project: money in ÷ funding plan', projects: 'projects', flagsTotal: 'flags',
    scopeRegion: 'Region', scopeProject: 'Project', noCharts: 'Chart library not loaded; tables only.',
    lang: '中文',
  },
};

const CATEGORIES = {
  central: ['中央', 'Central'], provincial: ['省级', 'Provincial'], municipal: ['市级', 'Municipal'],
  district: ['区级', 'District'], utility: ['管线单位', 'Utilities'], resident: ['居民', 'Residents'],
  enterprise: ['原产权单位', 'Enterprises'], social_capital: ['社会资本', 'Social capital'],
};
const WORKS = {
  basic: ['基础类', 'Basic'], improvement: ['完善类', 'Improvement'],
  enhancement: ['提升类', 'Enhancement'],
};
const FLAGS = {
  idle_funds: ['资金闲置', 'Idle funds'], over_budget: ['超预算', 'Over budget'],
  unit_cap_exceeded: ['超单价上限', 'Unit cap exceeded'],
  unacknowledged: ['未确认', 'Unacknowledged'], target_missed: ['未达目标', 'Target missed'],
  duplicate_compound: ['重复立项', 'Duplicate compound'], open_finding: ['审计未整改', 'Open finding'],
};

let lang = 'zh';
let projects = [];
let summary = null;
const charts = {};

const $ = (id) => document.getElementById(id);
const t = (key) => TEXT[lang][key];
const label = (table, key) => (table[key] ? table[key][lang === 'zh' ? 0 : 1] : key);

// Integer fen as yuan with thousands separators, exactly (fen is an integer below 2^53).
function yuan(fen) {
  const negative = fen < 0;
  const v = Math.abs(fen);
  const whole = String(Math.floor(v / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return (negative ? '-' : '') + whole + '.' + String(v % 100).padStart(2, '0');
}

// Basis points as a percentage with two decimals, or a dash for null (no denominator).
function percent(bp) {
  if (bp === null || bp === undefined) return '—';
  const negative = bp < 0;
  const v = Math.abs(bp);
  return (negative ? '-' : '') + Math.floor(v / 100) + '.' + String(v % 100).padStart(2, '0') + '%';
}

function setFen(id, fen) {
  const el = $(id);
  el.textContent = yuan(fen) + (lang === 'zh' ? ' 元' : ' yuan');
  el.dataset.fen = String(fen);
}

function setBp(id, barId, bp) {
  const el = $(id);
  el.textContent = percent(bp);
  el.dataset.bp = bp === null ? '' : String(bp);
  $(barId).style.width = bp === null ? '0' : Math.min(100, Math.max(0, bp / 100)) + '%';
}

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function fillTable(id, rows) {
  const body = $(id).querySelector('tbody');
  body.replaceChildren();
  for (const row of rows) {
    const tr = document.createElement('tr');
    for (const c of row.cells) tr.appendChild(c);
    if (row.data) Object.assign(tr.dataset, row.data);
    body.appendChild(tr);
  }
}

function applyText() {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  $('lang').textContent = t('lang');
}

// Every region path and its prefixes, from the projects' regions.
function regionsOf(list) {
  const set = new Set();
  for (const p of list) {
    const parts = p.region.split('/');
    for (let i = 1; i <= parts.length; i++) set.add(parts.slice(0, i).join('/'));
  }
  return [...set].sort();
}

function fillChooser(scope) {
  const region = $('region');
  const chosen = projects.find((p) => scope.kind === 'project' && p.id === scope.id);
  const chosenRegion = scope.kind === 'region' ? scope.id : (chosen ? chosen.region : region.value);
  region.replaceChildren(new Option(t('allRegions'), ''));
  for (const r of regionsOf(projects)) region.appendChild(new Option(r, r));
  region.value = chosenRegion;
  const project = $('project');
  project.replaceChildren(new Option(t('wholeRegion'), ''));
  const within = (p) => region.value === '' || p.region === region.value ||
    p.region.startsWith(region.value + '/');
  for (const p of projects.filter(within)) project.appendChild(new Option(p.id + ' ' + p.name, p.id));
  project.value = scope.kind === 'project' ? scope.id : '';
}

function scopeFromHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.has('project')) return { kind: 'project', id: params.get('project') };
  return { kind: 'region', id: params.get('region') || '' };
}

async function getJson(url) {
  const response = await fetch(url);
  const body = await response.json();
  if (!response.ok) throw new Error(body.message || response.statusText);
  return body;
}

async function load() {
  const scope = scopeFromHash();
  fillChooser(scope);
  const query = scope.kind === 'project' ? 'project=' + encodeURIComponent(scope.id)
    : 'region=' + encodeURIComponent(scope.id);
  $('status').textContent = t('loading');
  document.body.dataset.loaded = 'false';
  try {
    summary = await getJson('/v1/public/summary?' + query);
    render();
    $('status').textContent = '';
  } catch (e) {
    $('status').textContent = t('failed') + e.message;
  }
  document.body.dataset.loaded = 'true';
  document.body.dataset.scope = scope.kind + ':' + scope.id;
}

function renderFigures(s) {
  const scopeName = s.scope.kind === 'project'
    ? t('scopeProject') + ' ' + s.scope.id + ' ' + (s.projects[0] ? s.projects[0].name : '')
    : t('scopeRegion') + ' ' + (s.scope.id || t('allRegions')) + ' · ' + s.projects.length + ' ' + t('projects');
  $('scope-title').textContent = scopeName;
  setFen('money-in', s.money_in.total_fen);
  setFen('disbursed', s.disbursements.total_fen);
  $('payment-count').textContent = String(s.disbursements.count);
  $('payment-count').dataset.count = String(s.disbursements.count);
  setBp('allocation-rate', 'allocation-bar', s.progress.allocation_rate_bp);
  setBp('payment-rate', 'payment-bar', s.progress.payment_rate_bp);
  $('allocation-basis').textContent =
    s.progress.allocation_basis === 'pools' ? t('basisPools') : t('basisPlan');
}

function renderTables(s) {
  fillTable('sources', Object.entries(s.money_in.by_category).filter(([, fen]) => fen !== 0)
    .map(([c, fen]) => ({ cells: [cell(label(CATEGORIES, c)), cell(yuan(fen), 'num')],
      data: { category: c, fen: String(fen) } })));
  const totals = (list, names) => list.map((x) => ({
    cells: [cell(names ? label(names, x.key) : x.name), cell(yuan(x.amount_fen), 'num'),
      cell(percent(x.share_bp), 'num')],
    data: { key: x.key, fen: String(x.amount_fen) },
  }));
  fillTable('by-work', totals(s.disbursements.by_work, WORKS));
  fillTable('by-payee', totals(s.disbursements.by_payee, null));
  fillTable('flags', s.flags.map((f) => ({
    cells: [cell(label(FLAGS, f.flag), 'flag-red'), cell(f.project || f.pool || ''), cell(f.message)],
    data: { flag: f.flag },
  })));
  $('flag-count').textContent = s.flags.length + ' ' + t('flagsTotal');
  $('flag-count').dataset.count = String(s.flags.length);
}

function renderCheckpoint(s) {
  $('cp-origin').textContent = s.checkpoint.origin;
  $('cp-size').textContent = String(s.checkpoint.size);
  $('cp-root').textContent = s.checkpoint.root;
  $('cp-key').textContent = s.checkpoint.log_key;
  $('cp-note').textContent = s.checkpoint.note;
  const links = $('downloads');
  links.replaceChildren();
  for (const [name, url] of Object.entries(s.exports)) {
    const a = document.createElement('a');
    a.href = url;
    a.textContent = name;
    links.appendChild(a);
  }
}

function chart(id) {
  if (typeof echarts === 'undefined') return null;
  if (!charts[id]) charts[id] = echarts.init($(id), null, { renderer: 'canvas' });
  return charts[id];
}

// ECharts draws numbers it is given as yuan; the tables beside the charts are the exact figures.
const toYuan = (fen) => fen / 100;

function renderCharts(s) {
  if (typeof echarts === 'undefined') {
    $('chart-sources').textContent = t('noCharts');
    return;
  }
  const categories = Object.keys(CATEGORIES);
  const tooltip = { trigger: 'item', valueFormatter: (v) => yuan(Math.round(v * 100)) };
  if (s.scope.kind === 'region' && s.money_in_by_project.length > 1) {
    chart('chart-sources').setOption({
      tooltip: { trigger: 'axis', valueFormatter: tooltip.valueFormatter },
      legend: { top: 0 }, grid: { left: 80, right: 20, bottom: 90, top: 40 },
      xAxis: { type: 'category', data: s.money_in_by_project.map((p) => p.project),
        axisLabel: { rotate: 60, fontSize: 10 } },
      yAxis: { type: 'value', name: t('amountYuan') },
      series: categories.map((c) => ({ name: label(CATEGORIES, c), type: 'bar', stack: 'in',
        data: s.money_in_by_project.map((p) => toYuan(p.by_category[c])) })),
    }, true);
  } else {
    chart('chart-sources').setOption({
      tooltip, legend: { top: 0 },
      series: [{ type: 'pie', radius: ['35%', '65%'],
        data: categories.filter((c) => s.money_in.by_category[c] !== 0)
          .map((c) => ({ name: label(CATEGORIES, c), value: toYuan(s.money_in.by_category[c]) })) }],
    }, true);
  }
  chart('chart-work').setOption({
    tooltip, series: [{ type: 'pie', radius: '60%',
      data: s.disbursements.by_work.map((w) => ({ name: label(WORKS, w.key), value: toYuan(w.amount_fen) })) }],
  }, true);
  const payees = s.disbursements.by_payee.slice().reverse();
  chart('chart-payee').setOption({
    tooltip: { trigger: 'axis', valueFormatter: tooltip.valueFormatter },
    grid: { left: 200, right: 20, top: 10, bottom: 20 },
    xAxis: { type: 'value' },
    yAxis: { type: 'category', data: payees.map((p) => p.name), axisLabel: { width: 190, overflow: 'truncate' } },
    series: [{ type: 'bar', data: payees.map((p) => toYuan(p.amount_fen)), itemStyle: { color: '#c62828' } }],
  }, true);
}

function render() {
  if (!summary) return;
  renderFigures(summary);
  renderTables(summary);
  renderCheckpoint(summary);
  renderCharts(summary);
}

async function start() {
  applyText();
  $('lang').addEventListener('click', () => {
    lang = lang === 'zh' ? 'en' : 'zh';
    applyText();
    fillChooser(scopeFromHash());
    render();
  });
  $('region').addEventListener('change', () => {
    location.hash = 'region=' + encodeURIComponent($('region').value);
  });
  $('project').addEventListener('change', () => {
    const p = $('project').value;
    location.hash = p ? 'project=' + encodeURIComponent(p)
      : 'region=' + encodeURIComponent($('region').value);
  });
  window.addEventListener('hashchange', load);
  window.addEventListener('resize', () => Object.values(charts).forEach((c) => c.resize()));
  try {
    projects = (await getJson('/v1/public/projects')).projects;
  } catch (e) {
    $('status').textContent = t('failed') + e.message;
  }
  await load();
}

start();
