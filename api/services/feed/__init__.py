"""Record → share → re-participate: photos, posts, the feed and albums, moderation, shares and
the loop's figures."""
