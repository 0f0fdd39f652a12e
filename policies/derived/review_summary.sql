-- One row per reviewer with verified reviews: how many they wrote, how positive they were, and the
-- demographics marketing segments them on. The contract tables/review_summary.yaml is derived from
-- this SQL by `policyengine derive < policies/derived/review_summary.sql`; the demo database builds
-- the table with it.
CREATE TABLE review_summary AS
WITH per_reviewer AS (
    SELECT v.UserID,
           count(*) AS ReviewCount,
           sum(v.ReviewSentiment) AS SentimentTotal,
           max(r.CreatedAt) AS LastReviewAt
    FROM verified_reviews AS v
    JOIN reviews AS r ON r.ReviewID = v.ReviewID
    GROUP BY v.UserID
)
SELECT p.UserID,
       u.Email AS ContactEmail,
       u.Country,
       CAST(year(u.BirthDate) // 10 * 10 AS INTEGER) AS BirthDecade,
       CASE WHEN u.MarketingConsent THEN u.City END AS ConsentedCity,
       p.ReviewCount,
       CAST(p.SentimentTotal / p.ReviewCount AS DECIMAL(38, 9)) AS AvgSentiment,
       CASE WHEN p.SentimentTotal / p.ReviewCount >= 0.5 THEN 'promoter'
            WHEN p.SentimentTotal / p.ReviewCount >= 0 THEN 'neutral'
            ELSE 'detractor' END AS Segment,
       p.LastReviewAt
FROM per_reviewer AS p
JOIN user_demographics AS u ON u.UserID = p.UserID
