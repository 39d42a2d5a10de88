/**
 * Prints the operator definitions as JSON, for tools that cannot import TypeScript
 * (airflow-plugin/tests/unit/test_contract.py):  node --import tsx operators/export.ts > operators.json
 */
import { operatorCatalog } from './definitions.ts';

process.stdout.write(`${JSON.stringify(operatorCatalog, null, 2)}\n`);
