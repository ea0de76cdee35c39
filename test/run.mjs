// Runs vitest, then prints the plain closing line CI reads ("tests: N passed, N failed, N skipped").
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';

const report = 'test/artifacts/vitest.json';
rmSync(report, { force: true });
const run = spawnSync('npx', ['vitest', 'run', '--config', 'test/vitest.config.ts', ...process.argv.slice(2)], { stdio: 'inherit' });
let summary = 'tests: 0 passed, 1 failed (vitest wrote no report)';
try {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  const skipped = r.numPendingTests + r.numTodoTests;
  // A file whose setup (beforeAll) failed skips its tests; it counts as a failure of its own.
  const failedFiles = r.testResults.filter((f) => f.status === 'failed' && f.assertionResults.every((t) => t.status !== 'failed')).length;
  const failed = r.numFailedTests + failedFiles;
  summary = `tests: ${r.numPassedTests} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`;
  if (failedFiles) summary += ` (${failedFiles} file${failedFiles > 1 ? 's' : ''} failed before its tests)`;
  if (r.numTotalTests === 0) summary = 'tests: 0 passed, 1 failed (no test ran)';
} catch {
  // no report: the summary above says so
}
console.log(summary);
process.exit(run.status ?? 1);
