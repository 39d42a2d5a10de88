import { describe, expect, it } from 'vitest';
import { failureCause, MAX_CAUSE_LENGTH, withCause } from '../../server/services/failureCause.ts';

describe('the cause of a failed run, from its log', () => {
  it.each([
    {
      what: "a Python traceback's final line",
      log: [
        '[griffin] attempt 1: starting python3 train.py',
        'epoch 1/8 train_loss=0.6',
        'Traceback (most recent call last):',
        '  File "train.py", line 40, in <module>',
        '    main()',
        '  File "train.py", line 12, in main',
        '    raise ValueError("the label column is missing")',
        'ValueError: the label column is missing',
        '[griffin] the training process exited with code 1',
      ],
      cause: 'ValueError: the label column is missing',
    },
    {
      what: 'the last traceback of a chained exception, with a dotted name',
      log: [
        'Traceback (most recent call last):',
        '  File "a.py", line 1, in <module>',
        "KeyError: 'label'",
        '',
        'During handling of the above exception, another exception occurred:',
        '',
        'Traceback (most recent call last):',
        '  File "a.py", line 3, in <module>',
        'griffin_data.errors.SchemaError: x-123 has no label',
      ],
      cause: 'griffin_data.errors.SchemaError: x-123 has no label',
    },
  ])('is $what', ({ log, cause }) => {
    expect(failureCause(log.join('\n'))).toBe(cause);
  });

  it("is the last line that is not Griffin's own when there is no traceback", () => {
    expect(failureCause('loading data\nerror: cannot open data.csv\n\n[griffin] exited with code 2\n')).toBe('error: cannot open data.csv');
    expect(failureCause('[griffin] only ours\n')).toBeUndefined();
    expect(failureCause('')).toBeUndefined();
  });

  it('of a process the infrastructure killed is only a traceback: its last line says nothing about why', () => {
    expect(failureCause('epoch 3/8 loss=0.4\n', { tracebackOnly: true })).toBeUndefined();
    expect(failureCause('Traceback (most recent call last):\n  File "x"\nMemoryError\n', { tracebackOnly: true })).toBe('MemoryError');
  });

  it('is capped in length', () => {
    const cause = failureCause(`Traceback (most recent call last):\n  File "x"\nValueError: ${'x'.repeat(5000)}`)!;
    expect(cause.length).toBe(MAX_CAUSE_LENGTH);
    expect(cause.startsWith('ValueError: xxx')).toBe(true);
  });

  it('is appended to the reason once', () => {
    expect(withCause('the training process exited with code 1', 'ValueError: x-123')).toBe('the training process exited with code 1: ValueError: x-123');
    expect(withCause('killed: ValueError: x-123', 'ValueError: x-123')).toBe('killed: ValueError: x-123');
    expect(withCause('exited with code 1', undefined)).toBe('exited with code 1');
  });
});
