//! Analytics aggregation: hourly or daily buckets, recomputed idempotently.

use chrono::{DateTime, Utc};

use super::{DomainError, DomainStores};
use crate::events::{AnalyticsAggregateJob, Granularity};
use crate::store::{AnalyticsBucket, TimeRange};

/// Most buckets one job may compute (a year of hours).
pub const MAX_BUCKETS: i64 = 24 * 366;

/// Seconds in one bucket.
pub fn bucket_seconds(granularity: Granularity) -> i64 {
    match granularity {
        Granularity::Hourly => 3600,
        Granularity::Daily => 86_400,
    }
}

/// Start of the bucket holding `at` (UTC hour or UTC day).
pub fn bucket_start(at: DateTime<Utc>, granularity: Granularity) -> DateTime<Utc> {
    let size = bucket_seconds(granularity);
    let secs = at.timestamp().div_euclid(size) * size;
    DateTime::from_timestamp(secs, 0).unwrap_or(at)
}

/// Computes a campaign's metric buckets from the stores and writes them.
///
/// The window `[start, end)` is widened to whole buckets (start rounded
/// down, end rounded up), so every written bucket is complete; recomputing a
/// bucket reads the same sources and replaces it, so it is idempotent.
#[derive(Debug)]
pub struct AnalyticsService {
    stores: DomainStores,
}

impl AnalyticsService {
    /// A service over `stores` (it reads users, referrals, rewards and the
    /// email log, and writes analytics buckets).
    pub fn new(stores: &DomainStores) -> Self {
        Self {
            stores: stores.clone(),
        }
    }

    /// Aggregates the job's window and returns the buckets written.
    ///
    /// # Errors
    /// [`DomainError::Invalid`] when `end <= start` or the window has more
    /// than [`MAX_BUCKETS`] buckets; store errors.
    pub async fn aggregate(
        &self,
        job: &AnalyticsAggregateJob,
    ) -> Result<Vec<AnalyticsBucket>, DomainError> {
        if job.end_time <= job.start_time {
            return Err(DomainError::Invalid(format!(
                "analytics window ends ({}) before it starts ({})",
                job.end_time, job.start_time
            )));
        }
        let size = bucket_seconds(job.granularity);
        let first = bucket_start(job.start_time, job.granularity).timestamp();
        let last = job.end_time.timestamp() + i64::from(job.end_time.timestamp_subsec_nanos() > 0);
        let count = (last - first + size - 1).div_euclid(size);
        if count > MAX_BUCKETS {
            return Err(DomainError::Invalid(format!(
                "analytics window of {count} buckets exceeds {MAX_BUCKETS}"
            )));
        }
        let c = job.campaign_id.as_str();
        let mut written = Vec::with_capacity(count.max(0) as usize);
        for i in 0..count {
            let (Some(start), Some(end)) = (
                DateTime::from_timestamp(first + i * size, 0),
                DateTime::from_timestamp(first + (i + 1) * size, 0),
            ) else {
                return Err(DomainError::Invalid("analytics window out of range".into()));
            };
            let range = TimeRange::new(start, end);
            let bucket = AnalyticsBucket {
                campaign_id: job.campaign_id.clone(),
                granularity: job.granularity,
                start,
                signups: self.stores.users.count_signups(c, range).await?,
                verifications: self.stores.users.count_verifications(c, range).await?,
                referrals: self.stores.referrals.count_referrals(c, range).await?,
                emails_sent: self.stores.email_log.count_sent(c, range).await?,
                rewards_delivered: self.stores.rewards.count_delivered(c, range).await?,
            };
            self.stores.analytics.upsert_bucket(bucket.clone()).await?;
            written.push(bucket);
        }
        Ok(written)
    }
}
