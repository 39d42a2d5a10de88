import type { HTMLAttributes, ReactNode } from 'react';

export interface Column<T> {
  /** Also the cell's data-col, so tests and styles can find a column. */
  key: string;
  header: ReactNode;
  cell: (row: T) => ReactNode;
  className?: string;
}

/**
 * A table in its scroll container: the header row from the columns, one row per item. A table that
 * is wider than its card scrolls inside it instead of pushing or clipping the page.
 */
export function Table<T>({
  columns,
  rows,
  rowKey,
  rowProps,
  className,
  flush,
  headless,
  testId,
}: {
  columns: Column<T>[];
  rows: T[];
  rowKey: (row: T) => string | number;
  rowProps?: (row: T) => HTMLAttributes<HTMLTableRowElement> & Record<`data-${string}`, string | undefined>;
  className?: string;
  /** Inside a card body: no extra border. */
  flush?: boolean;
  headless?: boolean;
  /** The table's data-testid. */
  testId?: string;
}) {
  return (
    <div className={`table-wrap${flush ? ' flush' : ''}`}>
      <table className={`table${className ? ` ${className}` : ''}`} data-testid={testId}>
        {!headless && (
          <thead>
            <tr>
              {columns.map((c) => (
                <th key={c.key} className={c.className} data-col={c.key}>
                  {c.header}
                </th>
              ))}
            </tr>
          </thead>
        )}
        <tbody>
          {rows.map((row) => (
            <tr key={rowKey(row)} {...rowProps?.(row)}>
              {columns.map((c) => (
                <td key={c.key} className={c.className} data-col={c.key}>
                  {c.cell(row)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
