import { expect, test } from "@playwright/test";
import { writeFileSync } from "node:fs";
import { BASE } from "../pages/api";
import { DashboardPage } from "../pages/dashboard";

// From a state change (the API call that makes it) to its appearance on the page, measured
// with a MutationObserver in the page; the browser and this process share the machine's clock.
test("ui update latency", async ({ page, request }) => {
  const rounds = Number(process.env.WP_BENCH_ROUNDS ?? "30");
  const dashboard = new DashboardPage(page);
  await dashboard.open();
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const current = Number(await dashboard.maxWorkers.textContent());
    const next = (current % 9) + 1;
    await page.evaluate((want) => {
      const el = document.querySelector('[data-testid="max-workers"]')!;
      (window as any).__seen = null;
      const obs = new MutationObserver(() => {
        if (el.textContent === String(want) && (window as any).__seen === null) {
          (window as any).__seen = Date.now();
          obs.disconnect();
        }
      });
      obs.observe(el, { childList: true, characterData: true, subtree: true });
    }, next);
    const t0 = Date.now();
    const res = await request.post(`${BASE}/config/`, { data: { max_workers: next } });
    expect(res.status()).toBe(200);
    await expect(dashboard.maxWorkers).toHaveText(String(next));
    const seen = await page.evaluate(() => (window as any).__seen as number);
    samples.push(seen - t0);
    await page.waitForTimeout(100);
  }
  samples.sort((a, b) => a - b);
  const pct = (p: number) => samples[Math.min(samples.length - 1, Math.round((p / 100) * (samples.length - 1)))];
  const out = { rounds, p50_ms: pct(50), p90_ms: pct(90), max_ms: samples[samples.length - 1], samples_ms: samples };
  console.log(JSON.stringify(out));
  if (process.env.WP_BENCH_OUT) writeFileSync(process.env.WP_BENCH_OUT, JSON.stringify(out));
});
