-- ledger_listen: receive the sluice_ledger notifications of migration 003 on this connection.
LISTEN sluice_ledger
