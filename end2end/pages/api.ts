import { expect, type APIRequestContext } from "@playwright/test";

export const BASE = "/ingestion/crm-dashboard/api/worker-pool";

export type Task = {
  task_id: string;
  crm_source: string;
  sync_type: string;
  status: string;
  position: number | null;
  priority: number;
  error: string | null;
  worker_started_at: string | null;
  tenant: string | null;
  blocked_by: string | null;
};

/** The pool's JSON API, for arranging state around what a spec does in the browser. */
export class PoolApi {
  constructor(readonly request: APIRequestContext) {}

  async status() {
    const res = await this.request.get(`${BASE}/status/`);
    expect(res.status()).toBe(200);
    return res.json();
  }

  async submit(crm_source: string, sync_type: string, batch_size: number, priority = 0, tenant?: string): Promise<Task> {
    const res = await this.request.post(`${BASE}/submit/`, {
      data: { crm_source, sync_type, parameters: { batch_size }, priority, tenant: tenant ?? null },
    });
    expect(res.status(), await res.text()).toBe(201);
    return res.json();
  }

  async task(id: string): Promise<Task> {
    const res = await this.request.get(`${BASE}/tasks/${id}/`);
    expect(res.status()).toBe(200);
    return res.json();
  }

  async setMax(max_workers: number) {
    const res = await this.request.post(`${BASE}/config/`, { data: { max_workers } });
    expect(res.status(), await res.text()).toBe(200);
  }

  async cancel(id: string) {
    return this.request.post(`${BASE}/tasks/${id}/cancel/`);
  }

  /** Clears every flow-control rule, pause and cool-down. */
  async clearRules() {
    const limits = await (await this.request.get(`${BASE}/limits/`)).json();
    const sources: Record<string, unknown> = {};
    for (const src of Object.keys(limits.sources)) {
      sources[src] = { limit: null, tenant_limit: null, rate: null };
      await this.request.post(`${BASE}/resume/`, { data: { source: src } });
      await this.request.post(`${BASE}/sources/${src}/cooldown/`, { data: { seconds: 0 } });
    }
    const res = await this.request.post(`${BASE}/limits/`, { data: { sources } });
    expect(res.status(), await res.text()).toBe(200);
    await this.request.post(`${BASE}/resume/`, { data: {} });
  }

  /** Cancels everything queued or running and waits until nothing runs: a clean pool. */
  async reset(maxWorkers: number) {
    await this.clearRules();
    await this.setMax(maxWorkers);
    for (const status of ["queued", "running"]) {
      const res = await this.request.get(`${BASE}/tasks/?status=${status}&limit=1000`);
      for (const t of (await res.json()).tasks as Task[]) {
        await this.cancel(t.task_id);
      }
    }
    await expect
      .poll(async () => {
        const s = await this.status();
        return s.active_count + s.queued_count;
      }, { timeout: 20_000 })
      .toBe(0);
  }

  async setLimits(body: unknown) {
    const res = await this.request.post(`${BASE}/limits/`, { data: body });
    expect(res.status(), await res.text()).toBe(200);
    return res.json();
  }

  /** Waits until a task has a status. */
  async waitStatus(id: string, status: string, timeout = 20_000) {
    await expect.poll(async () => (await this.task(id)).status, { timeout }).toBe(status);
  }

  /** Waits until a worker has reported STARTED for a task. */
  async waitStarted(id: string, timeout = 20_000) {
    await expect.poll(async () => (await this.task(id)).worker_started_at !== null, { timeout }).toBe(true);
  }
}

/** Task lengths for the demo worker: it works for batch_size milliseconds. */
export const LONG = 90_000;
/** A batch_size ending in 13 makes the demo task fail half way. */
export const FAILING = 413;
