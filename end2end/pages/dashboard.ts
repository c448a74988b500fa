import { expect, type Locator, type Page } from "@playwright/test";

/** The dashboard at `/`, through its stable `data-testid` hooks. */
export class DashboardPage {
  readonly page: Page;
  readonly serverPanel: Locator;
  readonly redisStatus: Locator;
  readonly checkButton: Locator;
  readonly checkResult: Locator;
  readonly liveIndicator: Locator;
  readonly state: Locator;
  readonly utilization: Locator;
  readonly activeCount: Locator;
  readonly queuedCount: Locator;
  readonly maxWorkers: Locator;
  readonly draining: Locator;
  readonly openConfig: Locator;
  readonly processQueue: Locator;
  readonly modal: Locator;
  readonly modalInput: Locator;
  readonly modalSave: Locator;
  readonly runningRows: Locator;
  readonly queueRows: Locator;
  readonly historyRows: Locator;

  constructor(page: Page) {
    this.page = page;
    this.serverPanel = page.getByTestId("server-panel");
    this.redisStatus = page.getByTestId("redis-status");
    this.checkButton = page.getByTestId("check-health");
    this.checkResult = page.getByTestId("health-result");
    this.liveIndicator = page.getByTestId("live-indicator");
    this.state = page.getByTestId("pool-state");
    this.utilization = page.getByRole("progressbar", { name: "Worker utilisation" });
    this.activeCount = page.getByTestId("active-count");
    this.queuedCount = page.getByTestId("queued-count");
    this.maxWorkers = page.getByTestId("max-workers");
    this.draining = page.getByTestId("draining");
    this.openConfig = page.getByTestId("open-config");
    this.processQueue = page.getByTestId("process-queue");
    this.modal = page.getByRole("dialog", { name: "Configure the pool" });
    this.modalInput = page.getByTestId("max-workers-input");
    this.modalSave = page.getByTestId("config-save");
    this.runningRows = page.getByTestId("running-row");
    this.queueRows = page.getByTestId("queue-row");
    this.historyRows = page.getByTestId("history-row");
  }

  async goto() {
    await this.page.goto("/");
  }

  /** Loads the page and waits until the WASM has hydrated it and the live channel is up. */
  async open() {
    await this.goto();
    await this.waitForHydration();
    await expect(this.liveIndicator).toHaveAttribute("data-state", /live|polling/);
  }

  /** Waits until the WASM has hydrated the page (it marks `<body data-hydrated>`). */
  async waitForHydration() {
    await expect(this.page.locator("body")).toHaveAttribute("data-hydrated", "true");
  }

  runningRow(id: string) {
    return this.page.locator(`[data-testid=running-row][data-task-id="${id}"]`);
  }

  queueRow(id: string) {
    return this.page.locator(`[data-testid=queue-row][data-task-id="${id}"]`);
  }

  historyRow(id: string) {
    return this.page.locator(`[data-testid=history-row][data-task-id="${id}"]`);
  }

  /** Fills the submit form. */
  async fillSubmit(o: { type?: string; batch?: string; priority?: string; full?: boolean }) {
    if (o.type !== undefined) await this.page.getByTestId("submit-type").selectOption(o.type);
    if (o.batch !== undefined) await this.page.getByTestId("submit-batch").fill(o.batch);
    if (o.priority !== undefined) await this.page.getByTestId("submit-priority").fill(o.priority);
    if (o.full !== undefined) await this.page.getByTestId("submit-full").setChecked(o.full);
  }
}
