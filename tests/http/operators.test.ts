import { describe, expect, it } from 'vitest';
import { operatorCatalog } from '../../operators/definitions.ts';

import { useTestService } from '../helpers/service.ts';

/**
 * GET /api/v1/operators serves the Airflow provider's contract, and every service call the contract
 * lists is a real route of this service (airflow-plugin/tests/unit/test_contract.py holds the
 * Python classes to the same data).
 */
describe('the Airflow operator definitions', () => {
  const { svc } = useTestService('sqlite');

  it('are served to a viewer, exactly as defined', async () => {
    const res = await svc.request.get('/api/v1/operators').set('Authorization', `Bearer ${await svc.tokenFor('viewer')}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual(JSON.parse(JSON.stringify(operatorCatalog)));
    expect(res.body.operators.map((o: { name: string }) => o.name)).toEqual([
      'GriffinSubmitTrainingRunOperator',
      'GriffinTrainingRunSensor',
      'GriffinRegisterModelVersionOperator',
      'GriffinPromoteModelVersionOperator',
      'GriffinCancelTrainingRunOperator',
    ]);
    const submit = res.body.operators[0];
    expect(submit.templateFields).toEqual(['workflow', 'overrides', 'idempotency_key']);
    expect(submit.parameters.find((p: { name: string }) => p.name === 'poll_interval')).toMatchObject({ type: 'float', default: 30, required: false, templated: false });
  });

  it('need a token', async () => {
    const res = await svc.request.get('/api/v1/operators');
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('unauthenticated');
  });

  it('name only service calls that are routes of the API', async () => {
    const doc = (await svc.admin(svc.request.get('/api/v1/openapi.json'))).body as { paths: Record<string, Record<string, unknown>> };
    const routes = new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`)));
    const calls = [...operatorCatalog.operators, ...operatorCatalog.triggers].flatMap((d) => d.calls.map((c) => `${c.method} ${c.path}`));
    expect(calls.length).toBeGreaterThan(0);
    for (const c of calls) expect(routes, c).toContain(c);
    expect(routes).toContain('GET /api/v1/operators');
  });
});
