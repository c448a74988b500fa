import { expect, test } from "@playwright/test";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, openSync } from "node:fs";
import { BASE, LONG, PoolApi } from "../pages/api";
import { DashboardPage } from "../pages/dashboard";

// What scripts/e2e.sh tells the specs about the demo worker it started.
const env = (name: string) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the specs with scripts/e2e.sh`);
  return v;
};

type Worker = { hostname: string; state: string; tasks: string[] };

async function roster(api: PoolApi): Promise<Worker[]> {
  const res = await api.request.get(`${BASE}/workers/`);
  expect(res.status()).toBe(200);
  return (await res.json()).workers as Worker[];
}

test.beforeEach(async ({ request }) => {
  await new PoolApi(request).reset(3);
});

test("the Forget action releases the slot of a worker that was stopped for good", async ({ page, request }) => {
  test.setTimeout(120_000);
  const api = new PoolApi(request);
  const celery = env("WORKER_POOL_E2E_CELERY");
  const demo = env("WORKER_POOL_E2E_DEMO");
  const queue = env("WORKER_POOL_E2E_QUEUE");
  const mainPid = Number(env("WORKER_POOL_E2E_WORKER_PID"));
  expect(existsSync(celery), `${celery} is missing: run scripts/setup.sh`).toBe(true);

  // A second worker of our own, in its own process group (so a hard kill takes its pool too).
  const name = `forget-${process.pid}`;
  const log = openSync(`${process.env.WORKER_POOL_E2E_LOGS ?? "/tmp"}/${name}.log`, "w");
  const extra: ChildProcess = spawn(
    celery,
    ["-A", "demo_app", "worker", "-Q", queue, "-n", `${name}@%h`, "-c", "1", "--without-mingle", "--without-gossip", "--loglevel=info"],
    { cwd: demo, detached: true, stdio: ["ignore", log, log], env: { ...process.env, WORKER_POOL_CELERY_QUEUE: queue } },
  );
  let stopped = false;
  try {
    await expect.poll(async () => (await roster(api)).find((w) => w.hostname.startsWith(`${name}@`))?.state, { timeout: 60_000 }).toBe("online");
    const hostname = (await roster(api)).find((w) => w.hostname.startsWith(`${name}@`))!.hostname;

    // Only our worker takes the next task: the demo worker is stopped meanwhile (a moment,
    // well under the heartbeat timeout).
    process.kill(mainPid, "SIGSTOP");
    stopped = true;
    const t = await api.submit("hubspot", "all", LONG);
    await expect.poll(async () => ((await api.task(t.task_id)) as unknown as { worker: string | null }).worker, { timeout: 20_000 }).toBe(hostname);
    process.kill(mainPid, "SIGCONT");
    stopped = false;

    // A warm shutdown (it says it goes offline with a task left: draining), then a hard kill:
    // its result will never come, and only an operator knows it is gone for good.
    process.kill(-extra.pid!, "SIGTERM");
    await expect.poll(async () => (await roster(api)).find((w) => w.hostname === hostname)?.state, { timeout: 20_000 }).toBe("draining");
    process.kill(-extra.pid!, "SIGKILL");

    const dashboard = new DashboardPage(page);
    await dashboard.open();
    await expect(dashboard.runningRow(t.task_id)).toBeVisible();
    const row = page.locator(`[data-testid=worker-row][data-worker="${hostname}"]`);
    await expect(row.getByTestId("worker-state")).toHaveText("draining");
    await expect(row.getByTestId("worker-tasks")).toHaveText("1");
    await row.getByTestId("worker-forget").click();

    // The slot is free: the task ended failed saying why, and the worker left the roster.
    await expect(dashboard.runningRow(t.task_id)).toBeHidden();
    await expect(row).toHaveCount(0);
    const ended = await api.task(t.task_id);
    expect(ended.status).toBe("failed");
    expect(ended.error).toContain("forgotten by an operator");
    expect((await api.status()).active_count).toBe(0);
    // The freed slot takes new work at once.
    const next = await api.submit("hubspot", "all", 200);
    await api.waitStatus(next.task_id, "completed");
  } finally {
    if (stopped) process.kill(mainPid, "SIGCONT");
    try {
      process.kill(-extra.pid!, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
});
