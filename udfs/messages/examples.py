"""One valid example of every wire format: the formats' reference examples.

docs/messages.md (written by scripts/messages_doc.py) shows them, and the unit tests' round
trips and the stack test's produce/consume through real Kafka start from them. They live
here, not under tests/, because a script must not import the tests."""
from udfs.messages import (AdClick, AdRequest, CatalogChange, ClickEvent, Conversion, DeadLetter, ErasureAudit, ErasureRequest,
                           Impression, RankedAd, RankedAds, RequestContext, ServedAd, ServedLog, TrainingRow)
from udfs.messages.catalog_change import Campaign, Schedule, Targeting
from udfs.messages.clickstream import Consent

AD = RankedAd(ad_id="a1", campaign_id="cmp1", creative_id="cr1", advertiser_id="adv1",
              rank=1, pctr=0.03, ecpm=4.2, price=3.9)
SERVED = ServedAd(ad_id="a1", campaign_id="cmp1", creative_id="cr1", advertiser_id="adv1", rank=1,
                  bid_type="CPC", bid=0.4, pctr=0.03, pcvr=None, ecpm=12.0, price=0.25,
                  charged_on="click", charge=0.25, features=(3.0, 0.5, 2592000.0, 0.10000000149011612))
EXAMPLES = {
    ClickEvent: ClickEvent(event_id="e1", user_id="u1", ts=1_700_000_000_000, type="purchase",
                           item_id="i1", category_id="c1", brand_id="b1", price=19.9, device="app",
                           geo="DE", consent=Consent(personalisation=True, measurement=False)),
    AdRequest: AdRequest(request_id="r1", user_id="u1", ts=1, slot="home_top", num_ads=3,
                         context=RequestContext(device="desktop", geo="FR", page_category="c2"),
                         consent=Consent(personalisation=True, measurement=True)),
    RankedAds: RankedAds(request_id="r1", ts=2, ads=(AD,), model_version="v0001", variant="B",
                         fallback=True, fallback_reason="feast timeout", timings_ms={"total": 3.2}),
    ServedLog: ServedLog(request_id="r1", user_id="u1", ts=2, slot="home_top", model_version="v0001",
                         variant="B", fallback=False, feature_set="fs1-0123456789abcdef", ads=(SERVED,)),
    TrainingRow: TrainingRow(impression_id="im1", request_id="r1", user_id="u1", ts=3, campaign_id="cmp1",
                             creative_id="cr1", bid_type="CPC", rank=1, model_version="v0001", variant="B",
                             pctr=0.031, feature_set="fs1-0123456789abcdef", features=(0.5, -1.25, 3.0),
                             clicked=True, conversions=1, conversion_value=19.9, charge=0.42, revision=1,
                             labelled_ts=1_800_003),
    Impression: Impression(impression_id="im1", request_id="r1", user_id="u1", ad_id="a1",
                           campaign_id="cmp1", creative_id="cr1", ts=3, position=1, price=0.004),
    AdClick: AdClick(click_id="k1", impression_id="im1", request_id="r1", user_id=None, ad_id="a1",
                     campaign_id="cmp1", ts=4),
    Conversion: Conversion(conversion_id="cv1", impression_id="im1", click_id="k1", user_id="u1",
                           campaign_id="cmp1", ts=5, value=42.0),
    DeadLetter: DeadLetter.of(b"\xffbad", "not UTF-8", "invalid", "clicks.v1", 6, stage="profile.decode.v1"),
    ErasureRequest: ErasureRequest(request_id="t1", user_id="u1", ts=7, requested_by="privacy-desk"),
    ErasureAudit: ErasureAudit(ticket_id="t1", user_id="u1", by="adstream-profile",
                               stores={"flink.profile_state": 1, "redis.user_hash_fields": 31},
                               requested_ts=7, completed_ts=1_250),
    CatalogChange: CatalogChange.upsert(Campaign(
        campaign_id="cmp1", advertiser_id="adv1", daily_budget=500.0, bid_type="CPC", bid=0.4,
        targeting=Targeting(geos=("DE", "FR"), devices=("mobile",)), schedule=Schedule(hours=(8, 9, 10)))),
}
