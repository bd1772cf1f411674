//! Campaign milestones: announced exactly once per threshold.

use super::{DomainError, DomainEventPublisher, DomainStores};
use crate::events::CampaignMilestoneReached;

/// The milestone name of a participant threshold, e.g. `1000_participants`.
pub fn milestone_name(threshold: u64) -> String {
    format!("{threshold}_participants")
}

/// Publishes `campaign.milestone_reached` when a campaign's participant
/// count reaches one of its configured thresholds.
///
/// Exactly once per threshold: the store's `claim_milestone` compare-and-set
/// admits one publisher; if publishing fails the claim is released and the
/// error returned, so a retry publishes. The event id is stable
/// (`milestone:<campaign>:<name>`), so a consumer deduplicating by id handles
/// it once even if a crash between claim and publish led to a republish.
#[derive(Debug)]
pub struct MilestoneService {
    stores: DomainStores,
    publisher: DomainEventPublisher,
}

impl MilestoneService {
    /// Reads campaigns and users from `stores`; announces through `publisher`.
    pub fn new(stores: &DomainStores, publisher: DomainEventPublisher) -> Self {
        Self {
            stores: stores.clone(),
            publisher,
        }
    }

    /// Checks the campaign's participant count against its thresholds and
    /// publishes the milestones reached for the first time.
    ///
    /// # Errors
    /// Store and publish errors.
    pub async fn check(
        &self,
        campaign_id: &str,
    ) -> Result<Vec<CampaignMilestoneReached>, DomainError> {
        let Some(campaign) = self.stores.campaigns.campaign(campaign_id).await? else {
            return Ok(Vec::new());
        };
        let count = self.stores.users.count_users(campaign_id).await?;
        let mut thresholds: Vec<u64> = campaign
            .milestones
            .iter()
            .copied()
            .filter(|t| *t > 0 && count >= *t)
            .collect();
        thresholds.sort_unstable();
        thresholds.dedup();
        let mut reached = Vec::new();
        for threshold in thresholds {
            if !self
                .stores
                .campaigns
                .claim_milestone(campaign_id, threshold)
                .await?
            {
                continue;
            }
            let event = CampaignMilestoneReached {
                campaign_id: campaign_id.to_owned(),
                milestone: milestone_name(threshold),
                participant_count: count,
            };
            if let Err(e) = self
                .publisher
                .milestone_reached(&campaign.account_id, event.clone())
                .await
            {
                self.stores
                    .campaigns
                    .release_milestone(campaign_id, threshold)
                    .await?;
                return Err(e.into());
            }
            reached.push(event);
        }
        Ok(reached)
    }
}
