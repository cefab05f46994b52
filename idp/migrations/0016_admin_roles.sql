-- An administrator role held as a directory attribute: 'admin', 'helpdesk'
-- or 'auditor'; NULL for everyone else. Configured groups can grant a role
-- too ([admin] groups); the stronger of the two applies.
ALTER TABLE users ADD COLUMN admin_role TEXT;
