-- 010_sharing_groups: the definitions of MISP sharing groups (the SharingGroup object a MISP event
-- carries, with its SharingGroupOrg and SharingGroupServer members), so that an object that names
-- its group by uuid alone (x_misp_sharing_group_uuid, e.g. a copy another peer sends back) is still
-- decided with the group's members. One row per group: a newer definition (MISP's "modified")
-- replaces an older one.
CREATE TABLE sharing_groups (
	uuid text PRIMARY KEY,          -- lower case
	definition jsonb NOT NULL,      -- MISP's SharingGroup object as the peer sent it
	modified timestamptz,           -- its "modified"; NULL when it had none readable
	peer text NOT NULL,             -- the peer the stored definition came from
	updated_at timestamptz NOT NULL DEFAULT now()
);
