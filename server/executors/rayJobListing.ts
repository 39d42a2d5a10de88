import type { RayJobDetails } from './rayClient.ts';

/**
 * Every job of one Ray head from a single listing (GET /api/jobs/), shared by all the status
 * checks of a reconciler pass: one request per head per pass, not one per run. A listing is
 * reused for `maxAgeMs` (less than a reconcile interval), and concurrent checks share the request
 * in flight. A job missing from it (submitted after the listing was taken) is for the caller to
 * ask about by itself, so that a listing's age never makes a run look lost.
 */
export class RayJobListing {
  private jobs: Map<string, RayJobDetails> | undefined;
  private takenAt = 0;
  private pending: Promise<Map<string, RayJobDetails>> | undefined;

  constructor(
    private readonly list: () => Promise<RayJobDetails[]>,
    private readonly maxAgeMs = 500,
  ) {}

  /** The job as listed, or undefined when the (fresh enough) listing does not have it. */
  async find(submissionId: string): Promise<RayJobDetails | undefined> {
    return (await this.current()).get(submissionId);
  }

  /** A new listing (or the one in flight), which the status checks that follow reuse. */
  async refresh(): Promise<RayJobDetails[]> {
    return [...(await this.take()).values()];
  }

  private async current(): Promise<Map<string, RayJobDetails>> {
    if (this.jobs && Date.now() - this.takenAt < this.maxAgeMs) return this.jobs;
    return this.take();
  }

  private take(): Promise<Map<string, RayJobDetails>> {
    this.pending ??= this.list()
      .then((jobs) => {
        this.jobs = new Map(jobs.map((job) => [job.submission_id, job]));
        this.takenAt = Date.now();
        return this.jobs;
      })
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }
}
