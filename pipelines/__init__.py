"""Call-tracking to CRM attribution sync: extract with dlt, model in SQL, push conversions."""
