import { expect, type Locator, type Page } from "@playwright/test";

/** The dashboard at `/`, through its stable `data-testid` hooks. */
export class DashboardPage {
  readonly page: Page;
  readonly serverPanel: Locator;
  readonly redisStatus: Locator;
  readonly version: Locator;
  readonly checkButton: Locator;
  readonly checkResult: Locator;

  constructor(page: Page) {
    this.page = page;
    this.serverPanel = page.getByTestId("server-panel");
    this.redisStatus = page.getByTestId("redis-status");
    this.version = page.getByTestId("server-version");
    this.checkButton = page.getByTestId("check-health");
    this.checkResult = page.getByTestId("health-result");
  }

  async goto() {
    await this.page.goto("/");
  }

  /** Waits until the WASM has hydrated the page (it marks `<body data-hydrated>`). */
  async waitForHydration() {
    await expect(this.page.locator("body")).toHaveAttribute("data-hydrated", "true");
  }
}
