import { operatorCatalog, type OperatorCatalog } from '../../operators/definitions.ts';
import { OperatorCatalogView } from '../domain/index.ts';
import { defineRoute, type RouteDef } from './route.ts';

/** The Airflow provider's contract (operators/definitions.ts), for tools, the UI and the provider's own tests. */
export function operatorRoutes(catalog: OperatorCatalog = operatorCatalog): RouteDef[] {
  return [
    defineRoute({
      method: 'get',
      path: '/operators',
      tag: 'airflow',
      summary: 'The Airflow operators, sensor and trigger of airflow-provider-griffin: parameters, templated fields, XCom keys and the service calls they make.',
      access: { role: 'viewer' },
      response: OperatorCatalogView,
      handler: async () => ({ body: catalog }),
    }),
  ];
}
