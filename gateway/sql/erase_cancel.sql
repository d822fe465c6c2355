-- erase_cancel: open deliveries of erased versions will not be made.
UPDATE outbox SET state = 'blocked', last_error = 'erased (GDPR)', updated_at = now()
WHERE state IN ('pending', 'failed') AND action = 'deliver'
  AND (id, modified) IN (SELECT id, modified FROM erase_set)
