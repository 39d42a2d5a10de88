import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as lifecycle from '../../server/domain/lifecycle.ts';
import { LIFECYCLE_SETS, REGENERATE, renderSdkStates, SDK_STATES_FILE } from '../../scripts/gen-sdk-states.ts';

/*
 * The Python SDK's run states (sdk/griffin_sdk/_states.py) are generated from the lifecycle; the
 * provider takes them from the SDK. A change to lifecycle.ts that is not regenerated fails here.
 */
describe('the SDK run states', () => {
  it('are what scripts/gen-sdk-states.ts writes from server/domain/lifecycle.ts', () => {
    const committed = fs.readFileSync(SDK_STATES_FILE, 'utf8');
    expect(committed === renderSdkStates(), `sdk/griffin_sdk/_states.py is out of date with server/domain/lifecycle.ts: run \`${REGENERATE}\``).toBe(true);
  });

  it('carry every state and each set of the lifecycle', () => {
    const text = renderSdkStates();
    for (const state of lifecycle.RUN_STATES) expect(text).toContain(`    ${state.toUpperCase()} = "${state}"`);
    expect(text).toContain(`TERMINAL_STATES: frozenset[str] = frozenset({${lifecycle.TERMINAL.map((s) => `"${s}"`).join(', ')}})`);
    expect(text).toContain(`RERUNNABLE_STATES: frozenset[str] = frozenset({${lifecycle.RERUNNABLE.map((s) => `"${s}"`).join(', ')}})`);
    expect(text).toContain('SUCCESS_STATE: str = "succeeded"');
  });

  it('change with the lifecycle, so a stale file cannot pass', () => {
    const withNewState = { ...LIFECYCLE_SETS, RUN_STATES: [...lifecycle.RUN_STATES, 'paused'], ACTIVE: [...lifecycle.ACTIVE, 'paused'] };
    const rendered = renderSdkStates(withNewState);
    expect(rendered).not.toBe(renderSdkStates());
    expect(rendered).toContain('    PAUSED = "paused"');
    expect(rendered).toContain('ACTIVE_STATES: frozenset[str] = frozenset({"queued", "launching", "running", "cancelling", "paused"})');
  });
});
