-- What a finished task's run warned the person about (JSON array of strings): the playbook's
-- own "WARNING:" notes, key tasks skipped, Ansible's warnings. NULL for tasks before this.
ALTER TABLE tasks ADD COLUMN warnings TEXT;
