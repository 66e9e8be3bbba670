// Evaluate AWS requests against identity policies with @cloud-copilot/iam-simulate, offline.
// stdin: [{"principal", "action", "resource", "context", "policies": [{"name", "policy"}], "resourcePolicy"}, ...]
// stdout: ["Allowed" | "ExplicitlyDenied" | "ImplicitlyDenied" | "error: ...", ...] in the same order.
// Run by dropml/local/iam_check.py with NODE_PATH pointing at the package's node_modules.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const require = createRequire(process.env.NODE_PATH + '/');
const { runSimulation } = require('@cloud-copilot/iam-simulate');
const ACCOUNT = process.env.IAM_ACCOUNT || '123456789012';

const requests = JSON.parse(readFileSync(0, 'utf8'));
const results = [];
for (const item of requests) {
  const outcome = await runSimulation(
    {
      request: {
        principal: item.principal,
        action: item.action,
        resource: { resource: item.resource, accountId: ACCOUNT },
        contextVariables: item.context || {},
      },
      identityPolicies: item.policies,
      resourcePolicy: item.resourcePolicy ?? undefined,
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    {},
  );
  results.push(outcome.resultType === 'error' ? 'error: ' + JSON.stringify(outcome.errors) : outcome.overallResult);
}
process.stdout.write(JSON.stringify(results));
