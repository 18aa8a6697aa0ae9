-- +goose Up
-- The best plan among a user's workspaces, kept on the user row so that the
-- authentication query (one per request) reads it without a join: contract
-- §9 rate-limits each user by it. Triggers keep it true whenever memberships
-- or subscriptions change; canceled subscriptions do not count.
ALTER TABLE users ADD COLUMN plan text NOT NULL DEFAULT 'trial'
    CHECK (plan IN ('trial', 'pro', 'growth', 'power'));

-- +goose StatementBegin
CREATE FUNCTION best_plan(uid uuid) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce((
        SELECT s.plan FROM workspace_members m
        JOIN subscriptions s ON s.workspace_id = m.workspace_id
        WHERE m.user_id = uid AND s.status <> 'canceled'
        ORDER BY CASE s.plan WHEN 'power' THEN 3 WHEN 'growth' THEN 2 WHEN 'pro' THEN 1 ELSE 0 END DESC
        LIMIT 1), 'trial')
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- refresh_plans recomputes the plan of the given users, in id order (so two
-- transactions touching the same users lock their rows in the same order),
-- writing only rows whose plan changes.
CREATE FUNCTION refresh_plans(uids uuid[]) RETURNS void LANGUAGE sql AS $$
    UPDATE users u SET plan = p.plan
    FROM (SELECT id, best_plan(id) AS plan FROM unnest(uids) AS id ORDER BY id) p
    WHERE u.id = p.id AND u.plan IS DISTINCT FROM p.plan
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION members_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM refresh_plans(ARRAY(SELECT DISTINCT user_id FROM new_rows ORDER BY 1));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM refresh_plans(ARRAY(SELECT DISTINCT user_id FROM old_rows ORDER BY 1));
    ELSE
        PERFORM refresh_plans(ARRAY(SELECT user_id FROM new_rows UNION SELECT user_id FROM old_rows ORDER BY 1));
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION subscriptions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM refresh_plans(ARRAY(SELECT DISTINCT m.user_id FROM new_rows n
            JOIN workspace_members m ON m.workspace_id = n.workspace_id ORDER BY 1));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM refresh_plans(ARRAY(SELECT DISTINCT m.user_id FROM old_rows o
            JOIN workspace_members m ON m.workspace_id = o.workspace_id ORDER BY 1));
    ELSE
        PERFORM refresh_plans(ARRAY(SELECT m.user_id FROM new_rows n
            JOIN workspace_members m ON m.workspace_id = n.workspace_id
            UNION SELECT m.user_id FROM old_rows o
            JOIN workspace_members m ON m.workspace_id = o.workspace_id ORDER BY 1));
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER members_insert_plan AFTER INSERT ON workspace_members
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION members_changed();
CREATE TRIGGER members_delete_plan AFTER DELETE ON workspace_members
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION members_changed();
CREATE TRIGGER members_update_plan AFTER UPDATE ON workspace_members
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION members_changed();
CREATE TRIGGER subscriptions_insert_plan AFTER INSERT ON subscriptions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION subscriptions_changed();
CREATE TRIGGER subscriptions_delete_plan AFTER DELETE ON subscriptions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION subscriptions_changed();
CREATE TRIGGER subscriptions_update_plan AFTER UPDATE ON subscriptions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION subscriptions_changed();

UPDATE users SET plan = best_plan(id) WHERE best_plan(id) <> 'trial';

-- +goose Down
DROP TRIGGER subscriptions_update_plan ON subscriptions;
DROP TRIGGER subscriptions_delete_plan ON subscriptions;
DROP TRIGGER subscriptions_insert_plan ON subscriptions;
DROP TRIGGER members_update_plan ON workspace_members;
DROP TRIGGER members_delete_plan ON workspace_members;
DROP TRIGGER members_insert_plan ON workspace_members;
DROP FUNCTION subscriptions_changed();
DROP FUNCTION members_changed();
DROP FUNCTION refresh_plans(uuid[]);
DROP FUNCTION best_plan(uuid);
ALTER TABLE users DROP COLUMN plan;
