sl_test(unit misp_feed unit/test_misp_feed.c)
