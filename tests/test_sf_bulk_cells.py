"""A Bulk API 2.0 update batch mixes records that write different fields: a row must leave the fields it does not
write empty ("unchanged"), and null only the fields it writes as None (#N/A). The writer once sent #N/A for every
field of the batch a row did not write, wiping other fields of the record."""

from syncaudit.connectors.salesforce.writer import _bulk_cells


def test_a_row_leaves_fields_it_does_not_write_unchanged() -> None:
    fields = ["Email", "Plan_Type__c", "Product_User_Id__c"]
    assert _bulk_cells({"Product_User_Id__c": "u1"}, fields) == ["", "", "u1"]
    assert _bulk_cells({"Email": None, "Plan_Type__c": "Pro"}, fields) == ["#N/A", "Pro", ""]
