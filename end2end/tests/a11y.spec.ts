import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Page } from "@playwright/test";
import { FAILING, PoolApi } from "../pages/api";
import { DashboardPage } from "../pages/dashboard";

/** The serious and critical violations axe-core finds on the page as it is now. */
async function violations(page: Page) {
  const results = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
}

for (const colorScheme of ["light", "dark"] as const) {
  test.describe(`in ${colorScheme} mode`, () => {
    test.use({ colorScheme });

    test("the main page, a task page and the configuration dialog have no serious accessibility violations", async ({ page, request }) => {
      const api = new PoolApi(request);
      await api.reset(2);
      const failed = await api.submit("genius", "all", FAILING);
      await api.waitStatus(failed.task_id, "failed");
      await api.submit("hubspot", "all", 200);

      const dashboard = new DashboardPage(page);
      await dashboard.open();
      await expect(page.getByTestId("chart-flow")).toBeVisible();
      expect(await violations(page)).toEqual([]);

      await dashboard.openConfig.click();
      await expect(dashboard.modal).toBeVisible();
      expect(await violations(page)).toEqual([]);
      await page.keyboard.press("Escape");

      await page.goto(`/tasks/${failed.task_id}`);
      await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
      await expect(page.getByTestId("task-page")).toBeVisible();
      expect(await violations(page)).toEqual([]);
      await api.reset(1);
    });
  });
}
