"""The thin layer every dialect calls: engine operations phrased for HTTP
views (lookups that raise NotFound, listings with totals, sorting), so no
dialect re-implements engine logic."""
