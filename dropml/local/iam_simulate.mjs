// Evaluate AWS requests against identity policies with @cloud-copilot/iam-simulate, offline.
// stdin: [{"principal", "action", "resource", "context", "policies": [{"name", "policy"}], "resourcePolicy"}, ...]
// stdout: ["Allowed" | "ExplicitlyDenied" | "ImplicitlyDenied" | "error: ...", ...] in the same order; an item
// with "explain": true gets {"result", "allowedBy", "deniedBy"} instead (the statements that decided it).
// Run by dropml/local/iam_check.py with NODE_PATH pointing at the package's node_modules.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const require = createRequire(process.env.NODE_PATH + '/');
const { runSimulation } = require('@cloud-copilot/iam-simulate');
const ACCOUNT = process.env.IAM_ACCOUNT || '123456789012';

// "<policy>#<Sid or statement number>" of the identity and resource statements that matched, for the report
function statements(outcome, kind) {
  const analyses = outcome.resultType === 'single' ? [outcome.result] : outcome.results;
  const found = [];
  for (const { analysis } of analyses) {
    for (const part of [analysis.identityAnalysis, analysis.resourceAnalysis]) {
      for (const s of part?.[kind] ?? []) {
        const statement = s.statement.sid() ?? `statement ${s.statement.index()}`;
        found.push(`${s.policyId ?? 'resource policy'}#${statement}`);
      }
    }
  }
  return [...new Set(found)];
}

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
  if (outcome.resultType === 'error') {
    results.push('error: ' + JSON.stringify(outcome.errors));
  } else if (item.explain) {
    results.push({ result: outcome.overallResult, allowedBy: statements(outcome, 'allowStatements'),
                   deniedBy: statements(outcome, 'denyStatements') });
  } else {
    results.push(outcome.overallResult);
  }
}
process.stdout.write(JSON.stringify(results));
